from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

import pytest

from autohedge import install_check
from autohedge.cli import main
from autohedge.install_check import DISTRIBUTION, Claim, install_problem

REPO_CONFIG = Path(__file__).resolve().parents[3] / "config.yaml"
INIT = Path("/venv/site-packages/autohedge/__init__.py")
OURS = {"autohedge": [DISTRIBUTION]}


def test_a_sound_regular_install_passes() -> None:
    assert install_problem(OURS, [Claim(init_file=INIT)], INIT) is None


def test_a_sound_editable_install_passes() -> None:
    claim = Claim(init_file=None, editable_root=Path("/src/autohedge-engine"))
    assert install_problem(OURS, [claim], Path("/src/autohedge-engine/autohedge/__init__.py")) is None


def test_the_metadata_spelling_of_our_name_is_ours() -> None:
    assert install_problem({"autohedge": ["autohedge_engine"]}, [Claim(init_file=INIT)], INIT) is None


def test_another_distribution_providing_autohedge_is_named() -> None:
    providers = {"autohedge": [DISTRIBUTION, "AutoHedge"]}
    problem = install_problem(providers, [Claim(init_file=INIT)], INIT)
    assert problem is not None and "'AutoHedge'" in problem and "uninstall" in problem


def test_a_copy_imported_from_elsewhere_is_refused() -> None:
    problem = install_problem(OURS, [Claim(init_file=INIT)], Path("/home/me/autohedge/__init__.py"))
    assert problem is not None and "/home/me/autohedge" in problem and "shadows" in problem


def test_running_without_our_distribution_is_refused() -> None:
    problem = install_problem({}, [], INIT)
    assert problem is not None and f"'{DISTRIBUTION}' is not installed" in problem


def test_this_environment_is_sound() -> None:
    assert install_check.installed_problem() is None


def test_cli_exits_2_with_one_line_naming_the_other_distribution(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = metadata.packages_distributions

    def with_the_other_project() -> Mapping[str, Sequence[str]]:
        return {**real(), "autohedge": [DISTRIBUTION, "autohedge"]}

    monkeypatch.setattr(metadata, "packages_distributions", with_the_other_project)
    assert main(["check-config", "--config", str(REPO_CONFIG)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("installation error: the import package 'autohedge' is also provided by")
    assert "'autohedge'" in err[0].removeprefix("installation error: the import package 'autohedge'")
