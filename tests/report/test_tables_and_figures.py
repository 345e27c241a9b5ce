import math

import numpy as np
import pandas as pd
import pytest

from irsde.report import figures, tables
from irsde.methods import RowFacts


FACTS = {
    "irsde": RowFacts("irsde", "IR-SDE (ours)", paper_row="IR-SDE", stochastic=True),
    "cnn": RowFacts("cnn", "CNN", paper_row=None, stochastic=False),
}


def per_image(method, values, metric="psnr", seed=0, note=""):
    return pd.DataFrame(
        {"dataset": "rain100h", "method": method, "image": [f"{i:03d}.png" for i in range(len(values))],
         "seed": seed, "protocol": "irsde-derain", "metric": metric, "value": values, "note": note}
    )


PUBLISHED = pd.DataFrame(
    [{"method": "IR-SDE", "psnr": 31.65, "ssim": 0.9041, "lpips": 0.047, "fid": 18.64, "source": "paper"},
     {"method": "PReNet", "psnr": 29.46, "ssim": 0.899, "lpips": 0.128, "fid": 52.67, "source": "paper"}]
)


def test_summary_means_per_seed_then_std_over_seeds():
    frame = pd.concat([per_image("irsde", [30.0, 32.0], seed=0), per_image("irsde", [29.0, 29.0], seed=1)])
    summary = tables.summarize_methods(frame)
    row = summary.iloc[0]
    assert row["mean"] == pytest.approx(30.0)  # seed means 31 and 29
    assert row["std"] == pytest.approx(np.std([31.0, 29.0], ddof=1))
    assert row["seeds"] == 2


def test_table_has_published_rows_ours_and_delta_to_paper():
    frame = pd.concat([per_image("irsde", [31.0, 32.0]), per_image("irsde", [0.9, 0.92], metric="ssim")])
    table = tables.build_table("rain100h", tables.summarize_methods(frame), PUBLISHED, FACTS, "irsde-derain",
                               {"irsde": ("sde", 100)}, synthetic=False)
    ours = table.rows[table.rows["method"] == "IR-SDE (ours)"].iloc[0]
    assert ours["id"] == "irsde"
    assert ours["psnr"] == pytest.approx(31.5)
    assert ours["delta_psnr"] == pytest.approx(31.5 - 31.65)
    assert ours["delta_ssim"] == pytest.approx(0.91 - 0.9041)
    assert math.isnan(ours["lpips"])
    assert set(table.rows["method"]) == {"IR-SDE", "PReNet", "IR-SDE (ours)"}
    assert "irsde-derain" in table.caption and "'sde'" in table.caption
    markdown = tables.render_markdown(table)
    assert "| IR-SDE (ours) | this run | 31.50 | -0.15 | 0.9100 | +0.0059 | n/a |" in markdown


def test_missing_metric_is_na_with_footnote_in_every_format():
    note = "LPIPS weights missing: put alexnet-owt-7be5be79.pth into /x/hub/checkpoints"
    frame = pd.concat([per_image("cnn", [28.0]), per_image("cnn", [np.nan], metric="lpips", note=note),
                       per_image("irsde", [np.nan], metric="lpips", note=note)])
    table = tables.build_table("synthetic-rain", tables.summarize_methods(frame), None, FACTS, "irsde-derain",
                               {"irsde": ("sde", 100)}, True)
    assert table.footnotes == [f"LPIPS↓ unavailable: {note}"]  # once, however many rows it marks
    markdown = tables.render_markdown(table)
    assert "n/a*" in markdown and note in markdown
    assert "synthetic stand-in" in table.caption
    latex = tables.render_latex(table)
    assert r"\toprule" in latex and r"\bottomrule" in latex and "n/a*" in latex
    assert "alexnet-owt-7be5be79.pth" in latex


def test_labels_are_applied_when_drawing_only():
    frame = pd.concat([per_image("irsde", [31.0]), per_image("mine", [20.0])])
    summary = tables.summarize_methods(frame)
    renamed = {**FACTS, "irsde": RowFacts("irsde", "Mean-reverting SDE", paper_row="IR-SDE", stochastic=True)}
    before = tables.build_table("rain100h", summary, PUBLISHED, FACTS, "irsde-derain", {"irsde": ("sde", 100)}, False)
    after = tables.build_table("rain100h", summary, PUBLISHED, renamed, "irsde-derain", {"irsde": ("sde", 100)}, False)
    assert "Mean-reverting SDE" in after.rows["method"].tolist() and "IR-SDE (ours)" not in after.rows["method"].tolist()
    columns = [c for c in before.rows.columns if c != "method"]
    pd.testing.assert_frame_equal(before.rows[columns], after.rows[columns])
    mine = after.rows[after.rows["id"] == "mine"].iloc[0]  # an id without facts is shown as itself
    assert mine["method"] == "mine" and "delta_psnr" not in after.rows.columns or math.isnan(mine["delta_psnr"])
    assert "Mean-reverting SDE with the 'sde' sampler, 100 NFE" in after.caption


def test_sampled_rows_carry_their_sampler_and_nfe_in_caption_and_csv(tmp_path):
    fast = RowFacts("irsde-fast-sde-10", "IR-SDE (fast-sde, 10 NFE)", paper_row="IR-SDE", stochastic=True)
    facts = {**FACTS, fast.id: fast}
    frame = pd.concat([per_image("irsde", [20.0]), per_image(fast.id, [21.0]), per_image("cnn", [22.0])])
    samplers = {"irsde": ("sde", 100), fast.id: ("fast-sde", 10), "published": ("sde", 100)}
    table = tables.build_table("synthetic-rain", tables.summarize_methods(frame), None, facts, "irsde-derain", samplers, True)
    assert "IR-SDE (ours) with the 'sde' sampler, 100 NFE; IR-SDE (fast-sde, 10 NFE) with the 'fast-sde' sampler, 10 NFE" in table.caption
    assert "published weights" not in table.caption  # no such row in this table
    paths = [tmp_path / f"t.{ext}" for ext in ("csv", "md", "tex")]
    tables.write_table(table, *paths)
    written = pd.read_csv(paths[0]).set_index("method")
    assert written.loc["IR-SDE (fast-sde, 10 NFE)", ["sampler", "nfe"]].tolist() == ["fast-sde", 10]
    assert written.loc["IR-SDE (ours)", ["sampler", "nfe"]].tolist() == ["sde", 100]
    assert written.loc["CNN", ["sampler", "nfe"]].isna().all()
    assert "| IR-SDE (fast-sde, 10 NFE) | this run | 21.00 |" in paths[1].read_text()


def test_latex_escapes_special_characters():
    assert tables._latex_escape("a_b & 50%") == r"a\_b \& 50\%"


def test_validation_curves_tidy_and_wide(tmp_path):
    tidy = tmp_path / "tidy.csv"
    pd.DataFrame({"iteration": [100, 100, 200, 200], "image": ["a", "b", "a", "b"], "metric": "psnr",
                  "value": [20.0, 22.0, 24.0, 26.0]}).to_csv(tidy, index=False)
    wide = tmp_path / "wide.csv"
    pd.DataFrame({"iteration": [100, 200], "psnr": [18.0, 19.0]}).to_csv(wide, index=False)
    curves = figures.read_validation_logs({"cosine": tidy, "linear": wide})
    assert curves[curves["run"] == "cosine"]["value"].tolist() == [21.0, 25.0]
    assert curves[curves["run"] == "linear"]["value"].tolist() == [18.0, 19.0]
    png = tmp_path / "c.png"
    figures.plot_validation_curves(curves, "t", "PSNR", [png, tmp_path / "c.pdf"])
    assert png.stat().st_size > 1000 and (tmp_path / "c.pdf").exists()


def test_validation_log_without_metric_is_an_error(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"iteration": [1], "loss": [0.1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no 'psnr'"):
        figures.read_validation_logs({"x": path})


def test_qualitative_grid_names_a_missing_column(tmp_path):
    image = np.zeros((40, 50, 3), np.uint8)
    figures.qualitative_grid([("001", {"GT": image, "LQ": image})], ["GT", "LQ"], tmp_path / "g.png", crop=32)
    assert (tmp_path / "g.png").exists()
    with pytest.raises(KeyError, match="'IR-SDE'"):
        figures.qualitative_grid([("001", {"GT": image})], ["GT", "IR-SDE"], tmp_path / "h.png")


def test_curves_average_the_seeds_of_a_label_and_draw_the_input_line(tmp_path):
    logs = []
    for seed, offset in ((0, 0.0), (1, 2.0)):
        path = tmp_path / f"seed{seed}.csv"
        pd.DataFrame(
            {"iteration": [10, 20], "image": ["mean", "mean"], "metric": ["psnr", "psnr"], "value": [1.0, 2.0]}
        ).pipe(lambda frame: pd.concat([frame, frame.assign(image="a.png", value=frame["value"] + offset)])).to_csv(
            path, index=False
        )
        logs.append(("cosine", path))
    curves = figures.read_validation_logs(logs)
    assert sorted(curves.groupby("iteration")["value"].mean().tolist()) == [2.0, 3.0]  # mean over seeds
    assert len(curves) == 4 and set(curves["run"]) == {"cosine"}
    png = tmp_path / "c.png"
    figures.plot_validation_curves(curves, "t", "PSNR", [png], reference=("input", 1.5))
    assert png.stat().st_size > 0


def test_timestep_error_plot(tmp_path):
    rows = [
        {"iteration": it, "t": t, "metric": m, "value": 0.1 * t / it}
        for it in (100, 200) for t in (1, 50, 100) for m in ("noise_error", "x0_error")
    ]
    png = tmp_path / "e.png"
    figures.plot_timestep_errors(pd.DataFrame(rows), "errors", [png])
    assert png.stat().st_size > 0


def test_caption_names_every_deviation_from_the_paper():
    from irsde.deviations import paper_deviations
    from irsde.train import validate_config

    config = validate_config(
        {"name": "r", "data": {"train": "t"}, "sde": {"eps": 0.1}, "network": {"nf": 8, "depth": 2},
         "loss": {"timestep_weights": "x0"}}
    )
    deviations = paper_deviations(config)
    assert deviations == [
        "sde.eps 0.1 (paper 0.005)",
        "loss.timestep_weights x0 (paper uniform)",
        "network.nf 8 (paper 64)",
        "network.depth 2 (paper 4)",
    ]
    assert paper_deviations(validate_config({"name": "r", "data": {"train": "t"}})) == []
    summary = pd.DataFrame([{"method": "irsde", "metric": "psnr", "mean": 20.0, "std": 0.0, "seeds": 1}])
    table = tables.build_table("b", summary, None, FACTS, "irsde-derain", {"irsde": ("sde", 100)}, True, deviations)
    assert "differs from the paper's setting in: sde.eps 0.1 (paper 0.005); loss.timestep_weights x0" in table.caption


def test_a_reproduced_row_sits_under_its_published_row_and_the_caption_names_the_checkpoint():
    from irsde.methods import row_facts

    frame = pd.concat([per_image("input", [12.0]), per_image("prenet-rain100h", [29.5]), per_image("irsde", [30.0])])
    released = ["PReNet (released weights, RainTrainH): checkpoint prenet-rain100h, csdwren/PReNet@6d908d1e:logs/"
                "Rain100H/PReNet6/net_latest.pth (git blob cc604a708bf3)"]
    omitted = ["IR-SDE (released weights): not in this table. Save it as resources/weights/irsde-derain-rain100h.pth"]
    table = tables.build_table("rain100h", tables.summarize_methods(frame), PUBLISHED, {**row_facts(), **FACTS},
                               "irsde-derain", {}, False, released=released, omitted=omitted)
    order = table.rows["method"].tolist()
    assert order[0] == "Input (degraded, no restoration)"
    assert order.index("PReNet (released weights, RainTrainH)") == order.index("PReNet") + 1
    assert order.index("IR-SDE (ours)") == order.index("IR-SDE") + 1
    prenet = table.rows.set_index("method").loc["PReNet (released weights, RainTrainH)"]
    assert prenet["source"] == "released weights, this run" and prenet["delta_psnr"] == pytest.approx(29.5 - 29.46)
    assert "Restored here with released weights: PReNet (released weights, RainTrainH): checkpoint prenet-rain100h" in table.caption
    assert "git blob cc604a708bf3" in table.caption and omitted[0] in table.footnotes
    assert omitted[0] in tables.render_markdown(table)
