"""Studies over runs: comparisons over seeds (`studies.seeds`) and ground-truth ranking
studies of supernets (`studies.ground_truth`, `studies.ground_truth_report`), with the
rank statistics they share (`studies.rank_stats`). Torch-free: runs and networks are
reached through the run store, the plugin protocol and the workbench."""
