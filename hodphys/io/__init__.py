"""Reading and writing files: fields for ParaView, figures, simulation data."""
