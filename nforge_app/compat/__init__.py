"""Drop-in front ends with other tools' names, backed by the NForge engine (see ``compat.tribev2``)."""
