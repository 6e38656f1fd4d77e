"""NForge web app, also the Hugging Face Space entry point: ``python app.py``.

Gradio reads GRADIO_SERVER_NAME and GRADIO_SERVER_PORT from the environment (a Space sets them).
"""

import sys

if __name__ == "__main__":
    try:
        from nforge_app.ui import launch
    except ImportError as error:  # gradio missing: say which extra to install, without a traceback
        sys.exit(f"nforge: {error}")
    launch()
