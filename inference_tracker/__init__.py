"""inference-tracker: measures Hugging Face Inference Providers and publishes the rows."""

__version__ = "0.1.0"
USER_AGENT = f"inference-tracker/{__version__}"
