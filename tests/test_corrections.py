"""Corrections of expert scores as their own audited acts, and one expert counted once however
the name was typed (issue 12, point 5), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import PROVINCE, Walker, full_scores

from gdcluster.cli import cli
from gdcluster.engine.errors import InvalidInput, Reason, TransitionRefused
from gdcluster.engine.records import ExpertScore
from gdcluster.engine.scoring import expert_key, expert_name

INDICATORS = len(full_scores())


def total(minus: int) -> Decimal:
    return Decimal(sum(full_scores(minus=minus).values()))


def scored(walker: Walker, *experts: tuple[str, int]) -> int:
    case_id = walker.to("recommended")
    for name, minus in experts:
        walker.engine.fire(case_id, "score", PROVINCE, expert=name,
                           scores=full_scores(minus=minus))
    return case_id


def last_act(walker: Walker, case_id: int) -> dict:
    return walker.engine.history(case_id)[-1]


@pytest.mark.parametrize(("typed", "stored"), [
    pytest.param("王专家", "王专家", id="plain"),
    pytest.param("王专家 ", "王专家", id="trailing-space"),
    pytest.param("王专家\u3000", "王专家", id="trailing-ideographic-space"),
    pytest.param("\u3000 王专家", "王专家", id="leading-spaces"),
    pytest.param("ＷＡＮＧ　Ｌｉ", "WANG Li", id="full-width-letters"),
    pytest.param("王 专家", "王 专家", id="inner-space-kept"),
])
def test_expert_name_normal_form(typed: str, stored: str) -> None:
    """NFKC, then trimmed at both ends (the ideographic space U+3000 too); inside, as typed."""
    assert expert_name(typed) == stored
    assert expert_key(typed) == stored


@pytest.mark.parametrize("typed", ["", " ", "\u3000\u3000", "王\n专家", "王\u200b专家",
                                   "专" * 129],
                         ids=["empty", "space", "ideographic-spaces", "line-break",
                              "zero-width-space", "too-long"])
def test_expert_name_refused(typed: str) -> None:
    """A blank name, a line break, an invisible character or more than 128 characters is bad
    input naming the field."""
    with pytest.raises(InvalidInput) as caught:
        expert_name(typed)
    assert caught.value.field == "expert"


def test_replace_corrects_one_experts_scores_before_expert_review(walker: Walker) -> None:
    """--replace corrects that expert's scores: the old points and total stay in the audit
    row (``replaced``), the final score uses the corrected total, and nothing else moves."""
    engine = walker.engine
    case_id = scored(walker, ("专家1", 0), ("专家2", 5), ("专家3", 1))
    version = engine.get(case_id).version
    view = engine.fire(case_id, "score", PROVINCE, expert="专家2 ", scores=full_scores(minus=2),
                       replace=True)
    assert (view.state, view.version) == ("recommended", version + 1)
    rows = {row.expert: row.total for row in engine.scores(case_id)}
    assert rows == {"专家1": total(0), "专家2": total(2), "专家3": total(1)}
    act = last_act(walker, case_id)
    assert act["trigger"] == "score"
    assert act["payload"]["expert"] == "专家2"
    assert act["payload"]["total"] == str(total(2))
    assert act["payload"]["replaced"]["total"] == str(total(5))
    assert act["payload"]["replaced"]["scores"] == {
        key: str(value) for key, value in full_scores(minus=5).items()}
    assert "also_replaced" not in act["payload"]
    view = engine.fire(case_id, "expert_review", PROVINCE)
    expected = (total(0) + total(2) + total(1)) / 3
    assert Decimal(view.score) == expected.quantize(Decimal("0.0001"))


@pytest.mark.parametrize("spelling", ["专家1", "专家1 ", "专家1\u3000", "\u3000专家1"])
def test_second_score_without_replace_is_refused_and_names_replace(walker: Walker,
                                                                   spelling: str) -> None:
    """The same expert (however spaced) scoring again without --replace is refused; the
    message says to use --replace; the scores stand as they were."""
    case_id = scored(walker, ("专家1", 0))
    with pytest.raises(TransitionRefused) as caught:
        walker.engine.fire(case_id, "score", PROVINCE, expert=spelling,
                           scores=full_scores(minus=3))
    assert Reason.ALREADY_SCORED in caught.value.reasons
    assert "--replace" in caught.value.message
    assert [(row.expert, row.total) for row in walker.engine.scores(case_id)] == [
        ("专家1", total(0))]


def test_replace_of_an_expert_who_has_not_scored_is_refused(walker: Walker) -> None:
    """--replace corrects, it never adds: a name that has not scored (a typo) is refused."""
    case_id = scored(walker, ("专家1", 0))
    with pytest.raises(TransitionRefused, match="no scores to replace") as caught:
        walker.engine.fire(case_id, "score", PROVINCE, expert="专家7", scores=full_scores(),
                           replace=True)
    assert Reason.NOT_SCORED in caught.value.reasons
    assert len(walker.engine.scores(case_id)) == 1


def test_replace_after_expert_review_is_refused(walker: Walker) -> None:
    """Once expert review is closed the scores are final: --replace is refused by the state."""
    case_id = walker.to("expert_reviewed")
    before = walker.engine.scores(case_id)
    score = walker.engine.get(case_id).score
    with pytest.raises(TransitionRefused) as caught:
        walker.engine.fire(case_id, "score", PROVINCE, expert="专家1",
                           scores=full_scores(minus=9), replace=True)
    assert Reason.WRONG_STATE in caught.value.reasons
    assert walker.engine.scores(case_id) == before
    assert walker.engine.get(case_id).score == score


@pytest.mark.parametrize("replace", ["yes", 1, None], ids=["text", "number", "null"])
def test_replace_must_be_true_or_false(walker: Walker, replace: object) -> None:
    """``replace`` is a boolean; anything else is bad input, not a silent yes or no."""
    case_id = scored(walker, ("专家1", 0))
    with pytest.raises(InvalidInput) as caught:
        walker.engine.fire(case_id, "score", PROVINCE, expert="专家1", scores=full_scores(),
                           replace=replace)
    assert caught.value.field == "replace"


def store_legacy(walker: Walker, case_id: int, *names: str) -> None:
    """Score rows as earlier versions stored them: names exactly as typed."""
    with walker.engine.store.write() as session:
        for index, name in enumerate(names):
            points = full_scores(minus=index)
            session.add(ExpertScore(case_id=case_id, expert=name,
                                    scores={key: str(value) for key, value in points.items()},
                                    total=str(sum(points.values())),
                                    at=walker.clock.now()))


def test_stored_spellings_of_one_expert_count_once(walker: Walker) -> None:
    """Rows stored before names were normalized ("王专家", "王专家 ", "王专家　") are one
    expert: not enough for the rubric's three; with two more experts the final score is still
    refused until --replace settles which scores stand, and that correction keeps every old
    row in the audit."""
    engine = walker.engine
    case_id = walker.to("recommended")
    store_legacy(walker, case_id, "王专家", "王专家 ", "王专家\u3000")
    with pytest.raises(TransitionRefused) as caught:
        engine.fire(case_id, "expert_review", PROVINCE)
    assert Reason.NOT_ENOUGH_EXPERTS in caught.value.reasons
    assert caught.value.facts["experts"] == 1
    for name in ("李专家", "张专家"):
        engine.fire(case_id, "score", PROVINCE, expert=name, scores=full_scores())
    with pytest.raises(TransitionRefused, match="--replace") as caught:
        engine.fire(case_id, "expert_review", PROVINCE)
    assert Reason.EXPERT_SCORED_TWICE in caught.value.reasons
    assert caught.value.facts["experts"] == ["王专家"]
    assert engine.get(case_id).state == "recommended"

    engine.fire(case_id, "score", PROVINCE, expert="王专家", scores=full_scores(minus=4),
                replace=True)
    payload = last_act(walker, case_id)["payload"]
    assert payload["replaced"]["expert"] == "王专家\u3000"
    assert [row["expert"] for row in payload["also_replaced"]] == ["王专家", "王专家 "]
    assert [row["total"] for row in payload["also_replaced"]] == [str(total(0)),
                                                                   str(total(1))]
    assert sorted(row.expert for row in engine.scores(case_id)) == ["张专家", "李专家", "王专家"]
    view = engine.fire(case_id, "expert_review", PROVINCE)
    expected = (total(0) + total(0) + total(4)) / 3
    assert Decimal(view.score) == expected.quantize(Decimal("0.0001"))
    assert last_act(walker, case_id)["payload"]["experts"] == 3


def test_three_spellings_are_not_three_experts(walker: Walker) -> None:
    """Through the act itself one person cannot pass for three: the second and third
    spellings are refused, and expert review still lacks experts."""
    case_id = scored(walker, ("王专家", 0))
    for spelling in ("王专家 ", "王专家\u3000"):
        with pytest.raises(TransitionRefused, match="already scored"):
            walker.engine.fire(case_id, "score", PROVINCE, expert=spelling,
                               scores=full_scores())
    with pytest.raises(TransitionRefused, match="1 expert"):
        walker.engine.fire(case_id, "expert_review", PROVINCE)


# --------------------------------------------------------------------------------- the CLI
RUNNER = CliRunner(env={"GDCLUSTER_DB": None, "GDCLUSTER_ACTOR": None, "GDCLUSTER_NOW": None,
                        "GDCLUSTER_DEBUG": None})


def test_cli_score_replace(walker: Walker, db_url: str, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """`case score --replace`: without it a second score is refused (exit 3) naming
    --replace; with it the scores are corrected and `case history --json` keeps the old."""
    monkeypatch.chdir(tmp_path)
    case_id = scored(walker, ("专家1", 0))
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps(full_scores(minus=1)), "utf-8")
    second.write_text(json.dumps(full_scores(minus=3)), "utf-8")
    base = ["--db", db_url, "--as", PROVINCE, "--now", "2024-07-10T09:00"]

    def run(*args: object) -> object:
        return RUNNER.invoke(cli, base + [str(arg) for arg in args], catch_exceptions=False)

    ok = run("case", "score", case_id, "--expert", "专家2", "--scores", first)
    assert ok.exit_code == 0, ok.output
    refused = run("case", "score", case_id, "--expert", "专家2　", "--scores", second)
    assert refused.exit_code == 3
    assert "already scored" in refused.stderr and "--replace" in refused.stderr
    done = run("case", "score", case_id, "--expert", "专家2", "--scores", second, "--replace")
    assert done.exit_code == 0, done.output
    history = json.loads(run("case", "history", case_id, "--json").stdout)
    assert history[-1]["payload"]["replaced"]["total"] == str(total(1))
    assert history[-1]["payload"]["total"] == str(total(3))
    missing = run("case", "score", case_id, "--expert", "专家9", "--scores", second,
                  "--replace")
    assert missing.exit_code == 3 and "no scores to replace" in missing.stderr
