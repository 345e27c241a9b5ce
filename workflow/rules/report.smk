# Tables, training curves, qualitative figures and the metric regression check. Each takes
# seconds: local rules, which a cluster run (profiles/slurm) runs on the login node, not as jobs.


rule table:
    input:
        metrics=lambda w: benchmark_metric_csvs(w.benchmark),
        published=PUBLISHED_CSV,
    output:
        csv=report(
            table_path("{benchmark}", "csv"),
            caption="../report/table.rst",
            category="Tables",
            labels={"benchmark": "{benchmark}", "format": "csv"},
        ),
        md=table_path("{benchmark}", "md"),
        tex=table_path("{benchmark}", "tex"),
    params:
        published=lambda w: config["benchmarks"][w.benchmark].get("published"),
        protocol=lambda w: config["benchmarks"][w.benchmark]["protocol"],
        samplers=lambda w: pipeline_config.row_sampling(config, w.benchmark),
        rows=dict(ROWS),
        synthetic=lambda w: config["benchmarks"][w.benchmark]["dataset"] in SYNTHETIC,
        deviations=lambda w: pipeline_config.paper_deviations(config, w.benchmark),
        released=lambda w: pipeline_config.released_sources(config, w.benchmark),
        omitted=lambda w: pipeline_config.omitted_released(config, w.benchmark),
    localrule: True
    log:
        f"{PATHS['logs']}/{NAME}/table/{{benchmark}}.log",
    script:
        "../scripts/render_table.py"


rule protocol_table:
    # The same restorations scored under each protocol variant: how much of a gap is protocol.
    input:
        metrics=lambda w: protocol_table_csvs(w.benchmark),
        published=PUBLISHED_CSV,
    output:
        csv=table_path("{benchmark}", "protocols.csv"),
        md=table_path("{benchmark}", "protocols.md"),
    params:
        published=lambda w: config["benchmarks"][w.benchmark].get("published"),
        protocols=lambda w: [config["benchmarks"][w.benchmark]["protocol"], *protocol_variants(w.benchmark)],
        rows=dict(ROWS),
    localrule: True
    log:
        f"{PATHS['logs']}/{NAME}/table/{{benchmark}}.protocols.log",
    script:
        "../scripts/render_protocol_table.py"


rule theta_schedule_curves:
    input:
        logs=lambda w: curve_logs(pipeline_config.schedule_variants(config)),
        test=lambda w: dataset_marker(config["curves"]["benchmark"], "test"),
    output:
        png=report(
            figure_path("theta_schedules.png"),
            caption="../report/theta_schedules.rst",
            category="Training curves",
        ),
        pdf=figure_path("theta_schedules.pdf"),
    params:
        labels=lambda w: curve_labels(config["curves"]["schedules"]),
        title="Validation PSNR by theta schedule",
        reference=lambda w: curve_validation_subset(),
    localrule: True
    log:
        f"{PATHS['logs']}/{NAME}/curves/theta_schedules.log",
    script:
        "../scripts/plot_curves.py"


rule loss_comparison_curves:
    input:
        logs=lambda w: curve_logs(pipeline_config.loss_variants(config)),
        test=lambda w: dataset_marker(config["curves"]["benchmark"], "test"),
    output:
        png=report(
            figure_path("loss_comparison.png"),
            caption="../report/loss_comparison.rst",
            category="Training curves",
        ),
        pdf=figure_path("loss_comparison.pdf"),
    params:
        labels=lambda w: curve_labels([loss.replace("_", "-") for loss in config["curves"]["losses"]]),
        title="Validation PSNR: maximum-likelihood vs noise-matching loss",
        reference=lambda w: curve_validation_subset(),
    localrule: True
    log:
        f"{PATHS['logs']}/{NAME}/curves/loss_comparison.log",
    script:
        "../scripts/plot_curves.py"


rule timestep_error_plot:
    input:
        logs=lambda w: curve_logs([pipeline_config.paper_variant(config)], log="val_timesteps"),
    output:
        png=report(
            figure_path("timestep_errors.png"),
            caption="../report/timestep_errors.rst",
            category="Training curves",
        ),
        pdf=figure_path("timestep_errors.pdf"),
    params:
        title=lambda w: f"Noise-prediction error by timestep ({pipeline_config.paper_variant(config)}, "
        f"seed {config['curves']['seeds'][0]})",
    localrule: True
    log:
        f"{PATHS['logs']}/{NAME}/curves/timestep_errors.log",
    script:
        "../scripts/plot_timestep_errors.py"


rule qualitative_figure:
    input:
        marker=lambda w: dataset_marker(w.benchmark, "test"),
        restored=lambda w: [restored_dir(w.benchmark, m, seeds_for(m)[0]) for m in methods_for(w.benchmark)],
    output:
        report(
            figure_path("qualitative_{benchmark}.png"),
            caption="../report/qualitative.rst",
            category="Qualitative",
            labels={"benchmark": "{benchmark}"},
        ),
    params:
        test_dir=lambda w: split_dir(w.benchmark, "test"),
        methods=lambda w: methods_for(w.benchmark),
        rows=dict(ROWS),
        images=config.get("figures", {}).get("images", 3),
        crop=config.get("figures", {}).get("crop", 96),
    localrule: True
    log:
        f"{PATHS['logs']}/{NAME}/figures/qualitative_{{benchmark}}.log",
    script:
        "../scripts/qualitative_figure.py"


rule regress:
    input:
        metrics=lambda w: [path for b in enabled_benchmarks() for path in benchmark_metric_csvs(b)],
        # Read by the script, so that a missing reference gets our message on how to create it.
        reference=lambda w: [pipeline_config.as_input_path(p) for p in [reference_csv()] if Path(p).is_file()],
    output:
        regress_output(),
    params:
        reference=reference_csv(),
        current=f"{PATHS['results']}/regress/{NAME}.current.csv",
        benchmarks=lambda w: {b: benchmark_metric_csvs(b) for b in enabled_benchmarks()},
        tolerances=config["regress"]["tolerances"],
    localrule: True
    log:
        f"{PATHS['logs']}/{NAME}/regress.log",
    script:
        "../scripts/regress.py"
