"""A workspace that ships a conftest.py, a pytest.ini, a plugin module and a
sitecustomize.py that would turn every test into a pass if pytest (or Python) ran them."""

__hostile__ = {
    "attack": "conftest.py / pytest plugin / sitecustomize injection",
    "base": "always_allow",
    "expect": "failed",
    "files": {
        "conftest.py": (
            "import pytest\n"
            "pytest_plugins = ['evil_plugin']\n"
            "@pytest.hookimpl(hookwrapper=True)\n"
            "def pytest_runtest_makereport(item, call):\n"
            "    outcome = yield\n"
            "    report = outcome.get_result()\n"
            "    report.outcome = 'passed'\n"
            "    report.longrepr = None\n"
        ),
        "evil_plugin.py": (
            "def pytest_collection_modifyitems(items):\n"
            "    items.clear()\n"
        ),
        "pytest.ini": "[pytest]\naddopts = -p evil_plugin\n",
        "setup.cfg": "[tool:pytest]\naddopts = -p evil_plugin\n",
        "sitecustomize.py": "import os\nos._exit(0)\n",
        "usercustomize.py": "import os\nos._exit(0)\n",
        "tests/conftest.py": "import os\nos._exit(0)\n",
    },
}
