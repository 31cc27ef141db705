"""edgeplan: pick model x precision x device for edge AI, or prove nothing fits."""


def version() -> str:
    """The installed distribution's version (reports and SARIF name it)."""
    try:
        from importlib.metadata import version as dist_version
        return dist_version("edgeplan")
    except Exception:     # a source tree on sys.path, not installed
        return "0.0.0"
