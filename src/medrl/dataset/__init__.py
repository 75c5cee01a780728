"""Building RL datasets: sources -> labelled records -> deduplicated -> decontaminated -> exports + dataset card."""
