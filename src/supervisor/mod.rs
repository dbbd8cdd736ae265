//! Process supervision: the state machine, spawning, the manager.
