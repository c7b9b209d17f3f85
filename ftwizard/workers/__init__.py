"""The detached workers' entry points: `python -m ftwizard.workers.local|hosted|tinker RUN_DIR`.

A worker trains, then evaluates its run. Training is the backends' (`backends.local.worker`,
`backends.hosted.worker`, `backends.hosted.tinker_worker`), evaluation the layer above them
(`evaluation.runner.evaluate_after_training`); these entry points sit above both and hand the evaluation to the
worker, so no backend imports upward. The launchers name these modules (a string: `WORKER_MODULE` in
`backends.local`, `backends.hosted` and `backends.hosted.tinker`).
"""
