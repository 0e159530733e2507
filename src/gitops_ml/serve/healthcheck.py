"""Exit 0 when the local server is ready: the image's HEALTHCHECK, without curl in the image."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from gitops_ml.serve.settings import Settings


def main() -> int:
    url = f"http://127.0.0.1:{Settings.from_env().port}/v2/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (fixed local URL)
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


if __name__ == "__main__":
    sys.exit(main())
