# Tables, training curves, qualitative figures, the metric regression check, and the pages of the
# Snakemake report (`snakemake --report report.html`): every file marked report() below is shown
# there, one category per benchmark. Rules whose files are shown pass job params that read as
# text (irsde.report.job_params): the report prints them in each result's info panel. Each takes
# seconds: local rules, which a cluster run (profiles/slurm) runs on the login node, not as jobs.


rule table:
    input:
        metrics=lambda w: benchmark_metric_csvs(w.benchmark),
        published=PUBLISHED_CSV,
    output:
        csv=table_file("{benchmark}", "csv"),
        md=table_file("{benchmark}", "md"),
        tex=table_file("{benchmark}", "tex"),
        caption=table_file("{benchmark}", "caption.json"),
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
        csv=table_file("{benchmark}", "protocols.csv"),
        md=table_file("{benchmark}", "protocols.md"),
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
            category="Curves: schedules and losses",
        ),
        pdf=figure_path("theta_schedules.pdf"),
    params:
        labels=lambda w: Listing(curve_labels(config["curves"]["schedules"])),
        title="Validation PSNR by theta schedule",
        reference=lambda w: Settings(curve_validation_subset()),
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
            category="Curves: schedules and losses",
        ),
        pdf=figure_path("loss_comparison.pdf"),
    params:
        labels=lambda w: Listing(curve_labels([loss.replace("_", "-") for loss in config["curves"]["losses"]])),
        title="Validation PSNR: maximum-likelihood vs noise-matching loss",
        reference=lambda w: Settings(curve_validation_subset()),
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
            category="Curves: schedules and losses",
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
            category="{benchmark}",
            subcategory="2 Qualitative figure",
            labels={"benchmark": "{benchmark}", "page": "qualitative figure"},
        ),
    params:
        test_dir=lambda w: split_dir(w.benchmark, "test"),
        labels=lambda w: Listing(ROWS[m].label for m in methods_for(w.benchmark)),
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


rule regress_page:
    input:
        regress_output(),
    output:
        report(regress_page(), caption="../report/regress.rst", category="Regression check", labels={"check": "regress"}),
    params:
        title=f"Regression check of configuration {NAME}",
    localrule: True
    log:
        f"{PATHS['logs']}/{NAME}/regress_page.log",
    script:
        "../scripts/regress_page.py"


rule benchmark_report:
    # The pages of one benchmark drawn from its table, metrics, restorations and training runs.
    input:
        table=lambda w: table_file(w.benchmark, "csv"),
        caption=lambda w: table_file(w.benchmark, "caption.json"),
        metrics=lambda w: benchmark_metric_csvs(w.benchmark),
        restored=lambda w: benchmark_restored_dirs(w.benchmark),
        train_logs=lambda w: trained_run_logs(w.benchmark),
    output:
        table=report_page("table.html", "table.rst", "1 Table", "table"),
        training=report_page("training_curves.png", "training_curves.rst", "3 Training curves", "training curves"),
        per_image=report_page("per_image.png", "per_image.rst", "4 Per-image metrics", "per-image metrics"),
        seeds=report_page("seeds.html", "seeds.rst", "5 Sampling seeds", "spread over sampling seeds"),
        provenance=report_page("provenance.html", "provenance.rst", "6 Provenance", "provenance"),
    params:
        restored=lambda w: restored_dir(w.benchmark, "{row}", "{seed}"),
        test_dir=lambda w: split_dir(w.benchmark, "test"),
        seeds=lambda w: Listing(config["seeds"]),
        reproduce=config["report_landing"]["tables_command"],
    localrule: True
    log:
        f"{PATHS['logs']}/{NAME}/report/{{benchmark}}.log",
    script:
        "../scripts/benchmark_report.py"
