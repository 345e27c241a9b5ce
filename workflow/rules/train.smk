# Training: every configured method per benchmark, and the IR-SDE variants of the curves.
# Checkpoints live in the run folder and are not declared outputs, so a failed or killed job
# resumes from its last checkpoint when run again; the final files are copied to <run>/final/.
# A job given more than one GPU (resource `gpu` or `gres`, set in the profile or with
# --set-resources train:gpu=N) trains under torchrun, one rank per GPU, data.batch_size global.


rule train:
    input:
        train=lambda w: dataset_marker(w.benchmark, "train"),
        test=lambda w: dataset_marker(w.benchmark, "test"),
    output:
        weights=protected(f"{PATHS['runs']}/{NAME}/{{benchmark}}/{{method}}/final/net_ema.pth"),
        train_log=f"{PATHS['runs']}/{NAME}/{{benchmark}}/{{method}}/final/train_log.csv",
        val_log=f"{PATHS['runs']}/{NAME}/{{benchmark}}/{{method}}/final/val_log.csv",
    wildcard_constraints:
        method=TRAINED_PATTERN,
    params:
        config=lambda w: train_config(w.benchmark, w.method),
        ranks=training_ranks,
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
        ranks=training_ranks,
    log:
        f"{PATHS['logs']}/{NAME}/train/curves/{{variant}}-seed{{seed}}.log",
    benchmark:
        f"{PATHS['logs']}/{NAME}/train/curves/{{variant}}-seed{{seed}}.benchmark.tsv"
    script:
        "../scripts/train.py"
