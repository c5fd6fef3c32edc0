"""What a user's terminal shows: library chatter goes to the log file beside the store."""

from __future__ import annotations

import logging
import sys
import warnings

from pipeline.console import import_quietly, route_chatter


def test_compiled_libraries_start_up_lines_go_to_the_log_file(tmp_path, capfd, monkeypatch):
    # a module that, like TensorFlow's libraries, writes to file descriptor 2 when imported
    (tmp_path / "noisy_module_b20.py").write_text(
        "import os\nos.write(2, b'oneDNN custom operations are on\\n')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    log = tmp_path / "store" / "fraudgan.log"
    import_quietly("noisy_module_b20", log)
    sys.stderr.write("after\n")
    sys.stderr.flush()
    assert "oneDNN" not in capfd.readouterr().err
    assert "oneDNN custom operations are on" in log.read_text()


def test_python_warnings_go_to_the_log_file(tmp_path, capsys):
    log = tmp_path / "fraudgan.log"
    chatter = logging.getLogger("py.warnings")
    saved = chatter.handlers[:], chatter.propagate
    logging.captureWarnings(False)  # an earlier test in this process may have captured them
    try:
        route_chatter(log)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("Hint: Inferred schema contains integer column(s)", stacklevel=1)
        for handler in chatter.handlers:
            handler.flush()
        assert "Inferred schema" not in capsys.readouterr().err
        assert "Inferred schema" in log.read_text()
    finally:
        logging.captureWarnings(False)
        for handler in chatter.handlers:
            handler.close()
        chatter.handlers, chatter.propagate = saved
