"""The goals, judged from the numbers; the methods named are the report's roles."""

from studies.config import Roles
from studies.report.goals import goals
from tests.studies.hand_reports import entry, method, report


def _report(roles=None, headline_n=1000):
    n = str(headline_n)

    def rec(v, secs=1.0):
        return entry({"101": v}, headline_n, train_seconds=secs)

    return report(
        {
            "lam-only": method({n: rec(-5.0)}, 0, key="lam-only"),
            "e-lasco": method({n: rec(-9.0, 1.0)}, 10, key="e-lasco"),
            "lasco": method({n: rec(-8.5, 1.0)}, 10, key="lasco"),
            "lam-finetune": method(
                {n: rec(-8.0, 20.0), "all": entry({"101": -9.2}, 4000)}, 1000, key="lam-finetune"
            ),
        },
        ["101"],
        headline_n=headline_n,
        roles=roles,
    )


BEATS = "E-LASCO with 1,000 samples beats every other method with 1,000 samples"
NEAR = "E-LASCO (1,000) within 0.5 dB of LAM fully fine-tuned on all samples"
TIME = "E-LASCO adapts in at most 1/10 of the wall time of LAM fully fine-tuned"
PARAMS = "E-LASCO trains at most 2 % of the LAM's parameters"
REGIONS = "E-LASCO beats LAM alone in every target region (n = 1,000)"


def test_goals_are_judged_from_the_numbers():
    judged = {g: ok for g, ok, _ in goals(_report())}
    assert judged == {
        BEATS: True,
        NEAR: True,
        TIME: True,
        PARAMS: True,
        "LASCO beats LAM alone in every target region (n = 1,000)": True,
        REGIONS: True,
    }


def test_a_better_baseline_misses_the_first_goal():
    r = _report()
    r["methods"]["lam-finetune"]["by_n"]["1000"]["mean_nmse_db"] = -9.5
    judged = {g: (ok, ev) for g, ok, ev in goals(r)}
    assert judged[BEATS] == (False, "E-LASCO -9.00 dB; best other LAM fully fine-tuned -9.50 dB")


def test_a_region_lost_to_the_base_misses_the_region_goal():
    r = _report()
    r["methods"]["e-lasco"]["by_n"]["1000"]["nmse_db"]["101"] = -4.0
    judged = {g: (ok, ev) for g, ok, ev in goals(r)}
    assert judged[REGIONS] == (False, "0 of 1 regions; not in 101")


def test_another_proposed_method_and_size_are_named_in_the_goals():
    """The goals name whichever method the report proposes, at its headline size."""
    r = _report(Roles(proposed="lasco", full_finetune="lam-finetune"), headline_n=300)
    judged = {g: (ok, ev) for g, ok, ev in goals(r)}
    assert judged["LASCO with 300 samples beats every other method with 300 samples"] == (
        False,
        "LASCO -8.50 dB; best other E-LASCO -9.00 dB",
    )
    assert "LASCO (300) within 0.5 dB of LAM fully fine-tuned on all samples" in judged
    assert "LASCO trains at most 2 % of the LAM's parameters" in judged
    text = " ".join(g + ev for g, (_, ev) in judged.items())
    assert "E-LASCO with" not in text
    assert "1,000 samples" not in text and "n = 1,000" not in text and "(1,000)" not in text


def test_the_time_goal_uses_the_quiet_machine_estimate_when_there_is_one():
    """The study's seconds say E-LASCO took 1/20 of the time; epochs x the per-epoch
    times of a back-to-back run say 1/4: the goal follows the latter."""

    def rec(secs, epochs):
        return entry({"101": -9.0}, train_seconds=secs, epochs=epochs)

    r = report(
        {
            "e-lasco": method({"1000": rec(5.0, 50)}, 10, key="e-lasco"),
            "lam-finetune": method({"1000": rec(100.0, 20)}, 1000, key="lam-finetune"),
        },
        ["101"],
    )
    assert {g: ok for g, ok, _ in goals(r)}[TIME] is True
    r["adapt_timing"] = {
        "n": 1000,
        "methods": {
            "e-lasco": {"seconds_per_epoch": 0.5},
            "lam-finetune": {"seconds_per_epoch": 5.0},
        },
    }
    judged = {g: (ok, ev) for g, ok, ev in goals(r)}
    assert judged[TIME][0] is False and "ratio 4.0x" in judged[TIME][1]


def test_goals_wait_for_every_region():
    """Means over different sets of regions are not compared: a goal stays pending."""
    r = _report()
    r["target_regions"] = ["101", "102"]  # every method has done 101 only
    judged = {g: ok for g, ok, _ in goals(r)}
    assert judged["E-LASCO with 1,000 samples beats every other method"] is None
    assert judged[REGIONS] is None  # one region of two, and no loss there


def _plugin_report(fraction_side: float, side_params: int = 100, side_seconds: float = 2.0):
    r = _report()
    n = "1000"
    r["methods"]["side"] = method(
        {n: entry({"101": -8.6}, 1000, train_seconds=side_seconds)}, side_params, key="side"
    )
    r["recovery"] = {
        n: {
            "e-lasco": {
                "regions": 1,
                "all": {"gain_db": 0.3, "finetune_gain_db": 1.2, "fraction": 0.25},
            },
            "side": {
                "regions": 1,
                "all": {
                    "gain_db": 1.2 * fraction_side,
                    "finetune_gain_db": 1.2,
                    "fraction": fraction_side,
                },
            },
        }
    }
    return r


PLUGIN = (
    "a plug-in recovers at least 50% of LAM fully fine-tuned's gain at n = 1,000, training "
    "at most 15% of the LAM's parameters in at most 25% of its adaptation time"
)


def test_the_best_plugin_is_judged_on_gain_share_parameters_and_time():
    judged = {g: (ok, ev) for g, ok, ev in goals(_plugin_report(0.6))}
    ok, evidence = judged[PLUGIN]
    assert ok is True and evidence.startswith("best: side network")
    assert "60% of the gain" in evidence and "10.0 % of the parameters" in evidence
    assert {g: ok for g, ok, _ in goals(_plugin_report(0.4))}[PLUGIN] is False
    assert {g: ok for g, ok, _ in goals(_plugin_report(0.6, side_params=200))}[PLUGIN] is False
    assert {g: ok for g, ok, _ in goals(_plugin_report(0.6, side_seconds=6.0))}[PLUGIN] is False


def test_plugin_time_is_never_a_quiet_estimate_against_a_measured_time():
    """A bench without the plug-in (an older one) leaves both times as measured."""
    r = _plugin_report(0.6, side_seconds=4.0)  # measured: 4 s against fine-tuning's 20 s
    ft = r["methods"]["lam-finetune"]["by_n"]["1000"]
    ft["epochs"] = 10
    r["adapt_timing"] = {"n": 1000, "methods": {"lam-finetune": {"seconds_per_epoch": 0.5}}}
    ok, evidence = {g: (ok, ev) for g, ok, ev in goals(r)}[PLUGIN]
    assert ok is True and "20% of its time" in evidence  # not 4 s / (10 x 0.5 s) = 80 %
