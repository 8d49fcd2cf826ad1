"""5.x timer messages: arbitrary delivery times via a timer log and a hashed timing wheel."""
