from qa.web.server import main  # `python app.py [options]` is `qa serve [options]`: the web UI and the JSON API
raise SystemExit(main())
