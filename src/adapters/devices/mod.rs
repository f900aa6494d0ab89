//! Scanner transports: serial ports, USB HID (POS and keyboard wedge), image spool directories.
