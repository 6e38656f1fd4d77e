"""NForge web app, also the Hugging Face Space entry point: ``python app.py``.

Gradio reads GRADIO_SERVER_NAME and GRADIO_SERVER_PORT from the environment (a Space sets them).
"""

from nforge_app.ui import launch

if __name__ == "__main__":
    launch()
