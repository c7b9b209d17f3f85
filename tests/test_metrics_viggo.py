"""ViGGO metrics and the confidence intervals behind every metric."""

from __future__ import annotations

import math

from ftwizard.evaluation.stats import bootstrap_interval, micro_prf, prf_metrics, proportion, wilson_interval
from ftwizard.evaluation.viggo_metrics import aggregate, parse_mr, score_pair

GOLD = ("inform(name[Tom Clancy's The Division], esrb[M (for Mature)], rating[average], "
        "genres[role-playing, shooter, tactical], has_multiplayer[yes])")


def test_reordered_attributes_match_all_but_the_string():
    pred = ("inform(rating[average], has_multiplayer[yes], name[Tom Clancy's The Division], "
            "genres[shooter, role-playing, tactical], esrb[M (for Mature)])")
    v = score_pair(pred, GOLD)
    assert v["exact_match"] is False and v["meaning_match"] is True
    assert v["function_match"] and v["attribute_set_match"]
    assert v["slot_f1"] == 1.0 and v["slot_counts"] == [5, 5, 5]


def test_whitespace_does_not_matter_for_exact_match():
    assert score_pair("  " + GOLD.replace(", ", ",  ") + "\n", GOLD)["exact_match"] is True  # runs collapse
    assert score_pair(GOLD.replace("[", " ["), GOLD)["exact_match"] is False  # a space where there was none
    assert score_pair(" ".join(GOLD.split()) + "  ", GOLD)["exact_match"] is True
    assert score_pair(GOLD.replace("], ", "],\n  "), GOLD)["exact_match"] is True


def test_a_changed_value_is_no_match():
    pred = GOLD.replace("rating[average]", "rating[good]")
    v = score_pair(pred, GOLD)
    assert not v["exact_match"]
    assert v["function_match"] and v["attribute_set_match"]  # same function, same attributes
    assert v["slot_counts"] == [4, 5, 5]
    assert math.isclose(v["slot_f1"], 0.8)


def test_other_function_missing_and_extra_attributes():
    v = score_pair(GOLD.replace("inform(", "give_opinion("), GOLD)
    assert not v["function_match"] and v["attribute_set_match"] and v["slot_f1"] == 1.0
    v = score_pair("inform(name[Tom Clancy's The Division], rating[average], platforms[PC])", GOLD)
    assert v["function_match"] and not v["attribute_set_match"]
    assert v["slot_counts"] == [2, 3, 5]  # precision 2/3, recall 2/5


def test_garbage_scores_zero_without_raising():
    truncated = score_pair("inform(name[Tom Clancy's The Divi", GOLD)  # generation cut off: the function is right
    assert truncated["function_match"] and truncated["slot_f1"] == 0.0
    for junk in ("", "I think it is a game", "(((", "inform name[x]"):
        v = score_pair(junk, GOLD)
        assert not any(v[k] for k in ("exact_match", "function_match", "attribute_set_match"))
        assert v["slot_f1"] == 0.0


def test_parse_keeps_brackets_and_parentheses_inside_values():
    mr = parse_mr("request(specifier[(maybe) odd], developer[Foo [Bar] Inc])")
    assert mr.function == "request"
    assert mr.slots == {("specifier", "(maybe) odd"), ("developer", "Foo [Bar] Inc")}


def test_aggregate_reports_slot_precision_recall_f1_micro_averaged():
    verdicts = [score_pair(GOLD, GOLD), score_pair("inform(name[x], rating[average])", GOLD)]
    m = aggregate(verdicts)
    assert m["exact_match"]["value"] == 0.5 and m["exact_match"]["n"] == 2
    # tp = 5 + 1, predicted = 5 + 2, gold = 10
    assert math.isclose(m["slot_precision"]["value"], 6 / 7)
    assert math.isclose(m["slot_recall"]["value"], 6 / 10)
    p, r = 6 / 7, 6 / 10
    assert math.isclose(m["slot_f1"]["value"], 2 * p * r / (p + r))
    for k in ("slot_precision", "slot_recall", "slot_f1", "exact_match"):
        assert 0 <= m[k]["ci_low"] <= m[k]["value"] <= m[k]["ci_high"] <= 1


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(81, 263)  # Wilson (1927) style worked example: 0.2553 .. 0.3662
    assert math.isclose(lo, 0.2553, abs_tol=5e-4) and math.isclose(hi, 0.3662, abs_tol=5e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    lo, hi = wilson_interval(284, 568)
    assert lo < 0.5 < hi and hi - lo < 0.09  # about +-4 points at the seed's SQL eval size
    assert proportion([True, False, True, True]) == {"n": 4, "value": 0.75, **dict(zip(("ci_low", "ci_high"),
                                                                                        wilson_interval(3, 4)))}


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_n():
    small = [1, 0] * 10
    large = [1, 0] * 500
    mean = lambda s: sum(s) / len(s)  # noqa: E731
    lo_s, hi_s = bootstrap_interval(small, mean, resamples=500)
    lo_l, hi_l = bootstrap_interval(large, mean, resamples=500)
    assert lo_s < 0.5 < hi_s and lo_l < 0.5 < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 3


def test_prf_edge_cases():
    assert micro_prf([(0, 0, 0)]) == (1.0, 1.0, 1.0)
    assert micro_prf([(0, 3, 0)]) == (0.0, 1.0, 0.0)
    assert micro_prf([(0, 0, 4)]) == (0.0, 0.0, 0.0)  # an empty prediction earns no precision
    m = prf_metrics([])
    assert m["slot_f1"]["n"] == 0


# Hand-labelled: would a careful reader say the prediction means exactly what the reference means?
MEANING_PAIRS = [
    # (prediction, reference, same meaning)
    ("inform(name[Halo], rating[good], platforms[Xbox])", "inform(name[Halo], rating[good], platforms[Xbox])", True),
    ("inform(platforms[Xbox], name[Halo], rating[good])", "inform(name[Halo], rating[good], platforms[Xbox])", True),
    ("inform( name [Halo] ,rating[ good ],platforms[Xbox] )", "inform(name[Halo], rating[good], platforms[Xbox])", True),
    ("inform(name[Halo], genres[shooter,action])\n", "inform(name[Halo], genres[action, shooter])", True),
    (GOLD.replace("], ", "],\n  "), GOLD, True),
    ("inform(name[Halo], rating[poor], platforms[Xbox])", "inform(name[Halo], rating[good], platforms[Xbox])", False),
    ("inform(name[Halo], platforms[Xbox])", "inform(name[Halo], rating[good], platforms[Xbox])", False),
    ("inform(name[Halo], rating[good], platforms[Xbox], esrb[M])", "inform(name[Halo], rating[good], platforms[Xbox])",
     False),
    ("give_opinion(name[Halo], rating[good], platforms[Xbox])", "inform(name[Halo], rating[good], platforms[Xbox])",
     False),
    ("inform(name[Halo], rating[good], platforms[Xbox]) I hope that helps",
     "inform(name[Halo], rating[good], platforms[Xbox])", False),
    ("inform(name[Halo], rating[good], platforms[Xbox]))", "inform(name[Halo], rating[good], platforms[Xbox])", False),
    ("inform(name[Halo], rating[good], platforms[Xbox]", "inform(name[Halo], rating[good], platforms[Xbox])", False),
    ("inform(name[Halo] rating[good] junk, platforms[Xbox])", "inform(name[Halo], rating[good], platforms[Xbox])",
     False),
    ("", "inform(name[Halo])", False),
]


def test_meaning_match_on_hand_labelled_pairs():
    got = [score_pair(p, r)["meaning_match"] for p, r, _ in MEANING_PAIRS]
    assert got == [label for _, _, label in MEANING_PAIRS]
    # the seed's string exact match sees only the first (and the pure whitespace-run variants) as equal
    assert [score_pair(p, r)["exact_match"] for p, r, _ in MEANING_PAIRS[:5]] == [True, False, False, False, True]


def test_text_after_the_representation_costs_slot_precision():
    gold = "inform(name[Halo], rating[good])"
    clean = score_pair(gold, gold)
    chatty = score_pair(gold + " and it is fun", gold)
    assert clean["slot_counts"] == [2, 2, 2] and clean["slot_f1"] == 1.0
    assert chatty["slot_counts"] == [2, 3, 2] and chatty["slot_f1"] < 1.0 and not chatty["meaning_match"]
    assert chatty["function_match"] and chatty["attribute_set_match"]


def test_an_empty_prediction_has_slot_precision_zero():
    m = aggregate([score_pair("", GOLD), score_pair("nothing useful", GOLD)])
    assert m["slot_precision"]["value"] == 0.0 and m["slot_recall"]["value"] == 0.0
    assert m["meaning_match"]["value"] == 0.0


def test_viggo_task_decides_on_meaning_match():
    from ftwizard.tasks import get_task

    task = get_task("viggo")
    specs = {m.name: m for m in task.metric_specs()}
    assert task.primary_metric() == "meaning_match" and specs["meaning_match"].decides
    assert specs["exact_match"].label == "string exact match (seed)" and not specs["exact_match"].decides
    assert sum(m.decides for m in specs.values()) == 1
