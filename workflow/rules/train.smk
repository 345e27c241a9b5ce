# Training: IR-SDE and the CNN baseline per benchmark, and the IR-SDE variants of the curves.
# Checkpoints live in the run folder and are not declared outputs, so a failed or killed job
# resumes from its last checkpoint when run again; the final files are copied to <run>/final/.


rule train:
    input:
        train=lambda w: dataset_marker(w.benchmark, "train"),
        test=lambda w: dataset_marker(w.benchmark, "test"),
    output:
        weights=protected(f"{PATHS['runs']}/{NAME}/{{benchmark}}/{{method}}/final/net_ema.pth"),
        train_log=f"{PATHS['runs']}/{NAME}/{{benchmark}}/{{method}}/final/train_log.csv",
        val_log=f"{PATHS['runs']}/{NAME}/{{benchmark}}/{{method}}/final/val_log.csv",
    wildcard_constraints:
        method="irsde|cnn_baseline",
    params:
        config=lambda w: train_config(w.benchmark, w.method),
    resources:
        gpu=1,
    log:
        f"{PATHS['logs']}/{NAME}/train/{{benchmark}}/{{method}}.log",
    benchmark:
        f"{PATHS['logs']}/{NAME}/train/{{benchmark}}/{{method}}.benchmark.tsv"
    script:
        "../scripts/train.py"


rule train_curve:
    input:
        train=lambda w: dataset_marker(config["curves"]["benchmark"], "train"),
        test=lambda w: dataset_marker(config["curves"]["benchmark"], "test"),
    output:
        weights=protected(f"{PATHS['runs']}/{NAME}/curves/{{variant}}/seed{{seed}}/final/net_ema.pth"),
        train_log=f"{PATHS['runs']}/{NAME}/curves/{{variant}}/seed{{seed}}/final/train_log.csv",
        val_log=f"{PATHS['runs']}/{NAME}/curves/{{variant}}/seed{{seed}}/final/val_log.csv",
        timestep_log=f"{PATHS['runs']}/{NAME}/curves/{{variant}}/seed{{seed}}/final/val_timesteps.csv",
    params:
        config=lambda w: curve_train_config(w.variant, w.seed),
    resources:
        gpu=1,
    log:
        f"{PATHS['logs']}/{NAME}/train/curves/{{variant}}-seed{{seed}}.log",
    benchmark:
        f"{PATHS['logs']}/{NAME}/train/curves/{{variant}}-seed{{seed}}.benchmark.tsv"
    script:
        "../scripts/train.py"
