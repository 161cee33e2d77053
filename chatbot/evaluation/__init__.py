"""How good a model version is, in one place.

- ``scoring``: labelled files (``chatbot evaluate``) and the metrics: accuracy, macro-F1,
  out-of-scope precision and recall, calibration, per language.
- ``report``: the report a training run stores beside a version, and its charts.
- ``version_reports``: reading a stored report back, and comparing two versions' reports.

No web or database imports: the CLI, training and the consoles call these.
"""
