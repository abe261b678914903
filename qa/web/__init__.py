"""The server behind ``qa serve`` (and ``python app.py``): the Gradio UI and a JSON HTTP API on one port.

* :mod:`qa.web.server` — check the address, load the assistant, compose and run the app;
* :mod:`qa.web.ui` — the Gradio tabs (Ask, Outline, Evaluate);
* :mod:`qa.web.api` and :mod:`qa.web.schemas` — the ``/api/...`` routes and their OpenAPI models;
* :mod:`qa.web.evaluation` — bounded evaluation runs, shared by the UI and the API;
* :mod:`qa.web.limits` — request-size and in-flight limits; :mod:`qa.web.public` — no server paths shown.

Importing this package is cheap; gradio, FastAPI and the model load only when an app is built.
"""

import os

# Before gradio is imported: its analytics and version check read this at import and launch.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
