"""What a limit is, pure: resources and their values, the floors below which programs
cannot live, a set of limits, CPU settings, where a value came from. No files, no
processes, no conda."""
