# What `cmake --graphviz` draws for docs/deps.png (target docs-graph): kfarm's own libraries and
# programs and what they link, without tests, fuzz targets, benchmarks and external libraries.
set(GRAPHVIZ_GRAPH_NAME "kfarm")
set(GRAPHVIZ_EXTERNAL_LIBS FALSE)
set(GRAPHVIZ_GENERATE_PER_TARGET FALSE)
set(GRAPHVIZ_GENERATE_DEPENDERS FALSE)
set(GRAPHVIZ_IGNORE_TARGETS "^test_" "^fuzz_" "^bench" "bench$" "probe$" "baseline" "guest$" "reverse" "fixture" "_probe$" "^esfm-qmp"
    "^selector_client" "^twospeed" "^knob" "^v1_" "fake" "^ptdr_objs$" "-check$" "hold$")
