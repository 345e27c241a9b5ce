# Restoration of each benchmark's test split by every method, one folder per sampling seed:
# <dir>/png/ (only the restored PNGs, read by FID), <dir>/float/ (unclamped outputs for LPIPS).


rule restore:
    input:
        weights=lambda w: final_weights(w.benchmark, w.method),
        test=lambda w: dataset_marker(w.benchmark, "test"),
    output:
        directory(f"{PATHS['results']}/restored/{NAME}/{{benchmark}}/{{method}}/seed{{seed}}"),
    params:
        test_dir=lambda w: split_dir(w.benchmark, "test"),
        label=lambda w: METHOD_LABELS[w.method],
        sampling=lambda w: sampler_options(w.method),
        sde=lambda w: sde_of(w.benchmark),
        device=config["training"].get("device", "auto"),
    resources:
        gpu=1,
    log:
        f"{PATHS['logs']}/{NAME}/restore/{{benchmark}}/{{method}}-seed{{seed}}.log",
    benchmark:
        f"{PATHS['logs']}/{NAME}/restore/{{benchmark}}/{{method}}-seed{{seed}}.benchmark.tsv"
    shell:
        "{IRSDE} restore --weights {input.weights} --dataset {params.test_dir} --out {output}"
        " {params.sampling} --seed {wildcards.seed} --method '{params.label}'"
        " --schedule {params.sde[schedule]} --T {params.sde[T]} --max-sigma {params.sde[max_sigma]}"
        " --eps {params.sde[eps]} > {log} 2>&1"
