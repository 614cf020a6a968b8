"""A correct limiter shipped beside modules named like the ones the shim, the driver
and the grader import: each would kill the process if it were ever imported."""

import json  # the standard library's, not the submission's json.py

__hostile__ = {
    "attack": "shadowing modules: json.py, hypothesis.py, pytest.py, dskata/, _dskata_driver.py",
    "base": "reference",
    "expect": "passed",
    "files": {
        "json.py": "import os\nos._exit(3)\n",
        "hypothesis.py": "import os\nos._exit(3)\n",
        "pytest.py": "import os\nos._exit(3)\n",
        "redis.py": "import os\nos._exit(3)\n",
        "threading.py": "import os\nos._exit(3)\n",
        "dataclasses.py": "import os\nos._exit(3)\n",
        "math.py": "import os\nos._exit(3)\n",
        "_dskata_driver.py": "import os\nos._exit(3)\n",
        "dskata/__init__.py": "import os\nos._exit(3)\n",
        "dskata/drivers/__init__.py": "import os\nos._exit(3)\n",
        "encodings/__init__.py": "import os\nos._exit(3)\n",
    },
}

assert json.dumps([1]) == "[1]"
