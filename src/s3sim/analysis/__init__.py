"""Analysis layer: reads stored results only (never the model).

* :mod:`s3sim.analysis.collect`: index a sweep's job directories and combine their tables (``s3sim-collect``);
* :mod:`s3sim.analysis.compare`: paired scenario contrasts, figures and the HTML/Markdown report
  (``s3sim-compare``);
* :mod:`s3sim.analysis.sensitivity`: the SALib stress test's analysis (``s3sim-stress``).
"""
