/* Sanitizer defaults for the kfarm ranks (compiled only with KFARM_SANITIZE). LeakSanitizer is
 * off here because Open MPI unloads its plugins in MPI_Finalize, so their allocations can be
 * neither attributed nor suppressed; AddressSanitizer and UBSan stay on, and the ranks' leaks are
 * checked by valgrind with suppressions instead (tests/valgrind/). */
const char *__asan_default_options(void);

const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}
