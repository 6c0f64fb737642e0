#pragma once

// What uaqf says when Ctrl-C or SIGTERM ends it: one line naming what was kept and how to go on,
// instead of a bare "^C" after a progress line. The process still dies of the signal (its exit
// status names it), so a resumed run and a shell see what they always saw.

#include <string>

namespace uaqf {

// Installs the SIGINT/SIGTERM handlers (once) and sets the line they print, e.g. "finished units
// are kept in out/study.db; run the same command again to resume". Later calls replace the line.
void say_on_interrupt(const std::string& what_was_kept);

}  // namespace uaqf
