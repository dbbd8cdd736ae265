//! Rotating log writers, output capture and tail readers.
