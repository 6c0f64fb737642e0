// llama-common's log asks whether the terminal takes colours; the answer lives in common.cpp,
// which uaqf does not build (it would pull in all of llama-common). uaqf routes llama.cpp's log
// through its own handler (llama_log.cpp), which never colours, so the answer is no.
bool tty_can_use_colors() { return false; }
