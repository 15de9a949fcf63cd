"""Reports of an evaluation run: tables, plots, the HTML report and the paper's published numbers."""
