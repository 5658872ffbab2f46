"""Build hook: compile the server's C packet loop (orchestrator/serve/_fastpath.c).

Runs for `pip install -e .` and for wheels. It needs a C compiler (`cc`, or $CC) and
the Python headers (Debian: gcc, python3-dev; scripts/install.sh installs them). When
the compiler or the headers are missing the build goes on without the extension and
the server uses its pure-Python packet loop (orchestrator/serve/fastpath.py says which).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = "orchestrator/serve/_fastpath.c"


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("ORCH_NO_EXTENSION"):
            return
        root = Path(self.root)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        target = root / "orchestrator" / "serve" / f"_fastpath{suffix}"
        cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")[:1]
        cmd = [
            *(cc or ["cc"]),
            "-O2",
            "-Wall",
            "-shared",
            "-fPIC",
            "-fvisibility=hidden",
            f"-I{sysconfig.get_paths()['include']}",
            str(root / SOURCE),
            "-o",
            str(target),
        ]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            self.app.display_warning(
                f"orch: the C packet loop was not built ({detail.strip()[:300]}); "
                "the server will use the pure-Python loop"
            )
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":  # an editable install finds it in the source tree
            build_data["force_include"][str(target)] = f"orchestrator/serve/{target.name}"
