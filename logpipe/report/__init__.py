"""Reports: charts and the HTML report of `logpipe demo`."""
