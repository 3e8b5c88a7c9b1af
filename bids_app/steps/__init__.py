"""The steps of a participant run, in order, each with the config sections it depends on,
its ``run`` and its writer (MNE-BIDS-Pipeline style); ``bids_app.workflow`` orders them.

1. :mod:`~bids_app.steps.highgamma` (``preprocessing``)
2. :mod:`~bids_app.steps.features` (``features``)
3. :mod:`~bids_app.steps.electrodes` (``electrodes``)
4. :mod:`~bids_app.steps.encoding` (``encoding``, ``statistics``)
5. :mod:`~bids_app.steps.comparisons` (``comparison``)

:mod:`~bids_app.steps.run` holds what both levels share (run options, crash files).
"""
