"""Plain helpers shared by the portal, the hub config and the spawners. No Django here."""
