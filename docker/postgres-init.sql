-- The prediction audit log gets its own database (each service runs its own migrations).
CREATE DATABASE predictions;
