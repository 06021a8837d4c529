import json
import os
import subprocess
import sys

import pytest

from course_lib.__main__ import build_parser, main
from course_lib.commands import COMMANDS
from course_lib.profiles import PROFILES


def run_cli(*args, **env):
    """A real ``python -m course_lib`` process: only for what a subprocess proves (the entry
    point, exit codes, nothing on stdout)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "COURSE_PROFILE")}
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "course_lib", *args], capture_output=True,
                          text=True, env=environ, timeout=120)


def doctor_json(capsys, monkeypatch, **env) -> dict:
    for key in ("CI", "COURSE_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["doctor", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("env, profile", [({"CI": "true"}, "smoke"),
                                          ({"COURSE_PROFILE": "laptop", "CI": "true"}, "laptop")])
def test_doctor_json_reports_the_profile_and_the_memory_limit(capsys, monkeypatch, env, profile):
    report = doctor_json(capsys, monkeypatch, **env)
    assert report["profile"] == profile  # COURSE_PROFILE wins over CI
    for key in ("device", "torch", "python", "data_dir", "memory_limit_gb", "memory_free_gb"):
        assert key in report
    # the limit it enforces: the container's, not the host's RAM (course_lib.memory)
    assert report["memory_limit_source"] in ("cgroup v2", "cgroup v1", "host")


@pytest.mark.subprocess
def test_bogus_profile_exits_nonzero_and_names_the_valid_ones():
    result = run_cli("doctor", COURSE_PROFILE="bogus")
    assert result.returncode != 0
    assert result.stdout == ""
    for name in PROFILES:
        assert name in result.stderr


def test_doctor_table_is_readable(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("course_lib")
    assert any(line.startswith("profile ") for line in out.splitlines())


def test_help_lists_every_command_and_each_has_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    parser = build_parser()
    for name in COMMANDS:
        assert name in out
        with pytest.raises(SystemExit) as info:
            parser.parse_args([name, "--help"])
        assert info.value.code == 0


@pytest.mark.subprocess
def test_no_command_is_a_usage_error():
    result = run_cli()
    assert result.returncode == 2 and "COMMAND" in result.stderr


def test_bench_quick_reports_json(tmp_path, capsys):
    assert main(["bench", "--quick", "--json", "--save", str(tmp_path)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["quick"] is True
    assert record["environment"]["torch"]
    saved = list(tmp_path.glob("*.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text())["results"] == record["results"]
    for row in record["results"]:
        assert row["baseline"] > 0 and row["candidate"] > 0
        # the direction of the ratio: a faster candidate must read as a ratio above 1
        faster = (row["candidate"] > row["baseline"]) == row["higher_is_better"]
        assert (row["ratio"] > 1) == faster, row


def test_bench_unknown_name_is_an_error(capsys):
    assert main(["bench", "no-such-benchmark"]) == 2
    assert "no-such-benchmark" in capsys.readouterr().err


@pytest.mark.subprocess
@pytest.mark.parametrize("args", [("prepare", "synthnet"),
                                  ("prepare", "imagefolder", "--root", "photos")],
                         ids=["synthnet", "imagefolder"])
def test_prepare_with_a_bogus_profile_is_one_clean_line(tmp_path, args):
    """Without --size, prepare asks the profile for the image size; an unknown COURSE_PROFILE
    used to escape as a traceback there (issue #19, item 10)."""
    result = run_cli(*args, COURSE_PROFILE="nonsense", COURSE_DATA=str(tmp_path / "data"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: prepare {args[1]}: "), result.stderr
    assert "'nonsense'" in lines[0]
    for name in PROFILES:
        assert name in lines[0]
    assert not (tmp_path / "data").exists()


def test_the_command_and_benchmark_lists_match_their_imports():
    """No importlib loop: each command and benchmark module is imported by name where it is
    run, and the lists the help and the checks read agree with those imports."""
    from course_lib.__main__ import MODULES
    from course_lib.bench import BENCHMARKS
    from course_lib.commands import bench

    assert sorted(MODULES) == sorted(COMMANDS)
    assert sorted(bench.MODULES) == sorted(BENCHMARKS)
