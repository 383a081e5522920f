"""systolica: a generator of verified systolic inference accelerators."""
