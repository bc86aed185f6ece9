# data: the real-corpus test reports "skipped" (exit 77) when `make data` has not
# run; the tokenizer benchmark only measures speed (label bench: not in ASan runs).
set_tests_properties(data_test_spamassassin_real PROPERTIES SKIP_RETURN_CODE 77)
add_test(NAME data_bench_tokenize COMMAND bench_tokenize --limit 1500 --vocab 4000
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(data_bench_tokenize PROPERTIES LABELS "data;bench" ENVIRONMENT "${GREENTUNE_TEST_ENV}"
                     TIMEOUT 300 SKIP_RETURN_CODE 77)
