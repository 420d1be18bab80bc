# Fuzzes the config loader (YAML tree, schema walk, ${VAR} expansion, checks)
# and the explain writer, whose output must load back.
ne_add_fuzz(NAME config SOURCES fuzz_config.c LIBS ne_config)
