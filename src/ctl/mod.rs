//! The control client: supervisorctl commands and their exact output.
