# ctest doc_snippets: every ```cpp compile block of the docs was built
# (the build compiles them; this fails when the index or a binary is
# missing, or when no block at all claims to compile).
file(STRINGS "${INDEX}" entries)
list(LENGTH entries n)
if(n LESS 7)
  message(FATAL_ERROR "only ${n} code blocks in README.md and docs/ are marked `cpp compile`: ${entries}")
endif()
foreach(bin IN LISTS BINARIES)
  if(NOT EXISTS "${bin}")
    message(FATAL_ERROR "not built: ${bin}")
  endif()
endforeach()
message(STATUS "${n} code blocks of the docs compiled and linked:")
foreach(e IN LISTS entries)
  message(STATUS "  ${e}")
endforeach()
