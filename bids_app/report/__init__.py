"""Self-contained HTML reports (figures inline), in the style of fMRIPrep/MRIQC."""
