"""Where limits live on disk: the record, the activation scripts kept in step with it,
environment.yml's ``limits:``, and the file machinery under them (atomic writes,
transactions, locks, YAML readers). Conda-free."""
