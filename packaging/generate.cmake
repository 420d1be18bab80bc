# generate.cmake - the packaged files made by the neoedge binary itself, so
# they always match it:
#   neoedge.yaml   `neoedge config default` with data_dir /var/lib/neoedge
#   neoedge.bash   `neoedge completion bash`
#   neoedge.1.gz   `neoedge man`, gzip -9n (reproducible: no name, no time)
# Run as: cmake -DNEOEDGE=<binary> -DOUT=<dir> -P generate.cmake
if(NOT NEOEDGE OR NOT OUT)
  message(FATAL_ERROR "usage: cmake -DNEOEDGE=bin -DOUT=dir -P generate.cmake")
endif()
file(MAKE_DIRECTORY ${OUT})
# A sanitizer build must not fail the generation over process-exit leaks.
set(ENV{ASAN_OPTIONS} "detect_leaks=0")

function(ne_run_neoedge out_var)
  execute_process(COMMAND ${NEOEDGE} ${ARGN}
                  OUTPUT_VARIABLE text RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "neoedge ${ARGN} failed (${rc}): ${err}")
  endif()
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

ne_run_neoedge(yaml config default)
string(REGEX MATCH "(^|\n)data_dir:[^\n]*" found "${yaml}")
if(NOT found)
  message(FATAL_ERROR "the default config has no top-level data_dir line")
endif()
string(REGEX REPLACE "(^|\n)data_dir:[^\n]*" "\\1data_dir: /var/lib/neoedge" yaml "${yaml}")
file(WRITE ${OUT}/neoedge.yaml "${yaml}")

ne_run_neoedge(completion completion bash)
file(WRITE ${OUT}/neoedge.bash "${completion}")

ne_run_neoedge(man man)
file(WRITE ${OUT}/neoedge.1 "${man}")
execute_process(COMMAND gzip -9 -n -c ${OUT}/neoedge.1
                OUTPUT_FILE ${OUT}/neoedge.1.gz RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gzip of the man page failed")
endif()
