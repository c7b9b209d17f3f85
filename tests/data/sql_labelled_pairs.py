"""Hand-labelled SQL pairs: would a careful human grader accept this prediction for this gold query?

Each pair: category, context (CREATE TABLEs as sql-create-context writes them, from the bundled Spider data),
gold, prediction, label (True: correct, the grader accepts it; False: wrong), why. Labels assume what a human
assumes of a Spider database: id columns are keys (unique, present) and foreign keys point at existing rows;
ordinary columns may repeat and may be NULL. Pairs a careful grader would call ambiguous are left out.

Categories: keys (rewrites that are right because of keys, and near misses), thresholds (comparisons, HAVING,
BETWEEN), like, order (ties, ORDER BY, LIMIT), quoted (double-quoted identifiers), seed (whitespace and `;`
around a prediction must not change the verdict), strict (what must stay a miss), general (other rewrites).
"""

from __future__ import annotations

STADIUM = "CREATE TABLE stadium (name VARCHAR, stadium_id VARCHAR); CREATE TABLE concert (name VARCHAR, stadium_id VARCHAR)"
DOGS = "CREATE TABLE Dogs (dog_id VARCHAR); CREATE TABLE Treatments (dog_id VARCHAR)"
TEMPLATES = "CREATE TABLE Documents (template_id VARCHAR); CREATE TABLE Templates (template_id VARCHAR)"
SONG = "CREATE TABLE song (Name VARCHAR, Singer_ID VARCHAR); CREATE TABLE singer (Name VARCHAR, Singer_ID VARCHAR)"
HIGHSCHOOL = "CREATE TABLE Highschooler (name VARCHAR, id VARCHAR); CREATE TABLE Friend (student_id VARCHAR)"
LIKES = "CREATE TABLE Likes (student_id VARCHAR); CREATE TABLE Highschooler (id VARCHAR, name VARCHAR)"
PETS3 = ("CREATE TABLE has_pet (stuid VARCHAR, petid VARCHAR); CREATE TABLE pets (petid VARCHAR, pettype VARCHAR); "
         "CREATE TABLE student (stuid VARCHAR)")
STUDENT_AGE = "CREATE TABLE student (age INTEGER, stuid VARCHAR); CREATE TABLE has_pet (age INTEGER, stuid VARCHAR)"
EMPLOYEE_EVAL = "CREATE TABLE evaluation (name VARCHAR, Employee_ID VARCHAR); CREATE TABLE employee (name VARCHAR, Employee_ID VARCHAR)"
CONDUCTOR = "CREATE TABLE orchestra (Conductor_ID VARCHAR); CREATE TABLE conductor (Name VARCHAR, Conductor_ID VARCHAR)"
PETS_WEIGHT = "CREATE TABLE pets (weight INTEGER)"
SINGER_AGE = "CREATE TABLE singer (country VARCHAR, age INTEGER)"
HEAD = "CREATE TABLE head (age INTEGER)"
AIRLINES = "CREATE TABLE FLIGHTS (Airline VARCHAR); CREATE TABLE AIRLINES (Airline VARCHAR, uid VARCHAR)"
GRADE = "CREATE TABLE Highschooler (grade VARCHAR)"
EMPLOYEE = "CREATE TABLE employee (name VARCHAR, age INTEGER)"
COUNTRY_LE = "CREATE TABLE country (GovernmentForm VARCHAR, Population INTEGER, LifeExpectancy INTEGER)"
OWNERS = "CREATE TABLE Owners (first_name VARCHAR, last_name VARCHAR, email_address VARCHAR, state VARCHAR)"
SINGER_SONG = "CREATE TABLE singer (name VARCHAR, country VARCHAR, song_name VARCHAR)"
DOCUMENTS = "CREATE TABLE Documents (document_name VARCHAR, template_id VARCHAR, Document_Description VARCHAR)"
CONDUCTOR_AGE = "CREATE TABLE conductor (Name VARCHAR, Age VARCHAR)"
SINGER_YOUNGEST = "CREATE TABLE singer (song_name VARCHAR, song_release_year VARCHAR, age VARCHAR)"
CONCERT_YEAR = "CREATE TABLE concert (YEAR VARCHAR)"
COUNTRY_POP = "CREATE TABLE country (Name VARCHAR, Population VARCHAR)"
NET_WORTH = "CREATE TABLE singer (Name VARCHAR, Net_Worth_Millions VARCHAR)"
FLIGHTS = "CREATE TABLE FLIGHTS (FlightNo VARCHAR, SourceAirport VARCHAR)"
PEOPLE = "CREATE TABLE people (Name VARCHAR, Nationality VARCHAR)"
SINGER = "CREATE TABLE singer (Id VARCHAR)"
SINGER_FR = "CREATE TABLE singer (name VARCHAR, country VARCHAR, age INTEGER)"
PETTYPE = "CREATE TABLE pets (pettype VARCHAR)"
STADIUM_CAP = "CREATE TABLE stadium (capacity INTEGER, name VARCHAR)"
VOTES = "CREATE TABLE votes (state VARCHAR)"
CONCERT_SINGER = ("CREATE TABLE singer_in_concert (singer_id VARCHAR, concert_id VARCHAR); "
                  "CREATE TABLE concert (concert_id VARCHAR, year VARCHAR); CREATE TABLE singer (name VARCHAR, singer_id VARCHAR)")


def _p(category, context, gold, prediction, label, why):
    return {"category": category, "context": context, "gold": gold, "prediction": prediction, "label": label,
            "why": why}


PAIRS = [
    # -- keys ----------------------------------------------------------------------------------------------
    _p("keys", STADIUM, "SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)",
       "SELECT name FROM stadium AS s WHERE NOT EXISTS (SELECT 1 FROM concert AS c WHERE c.stadium_id = s.stadium_id)",
       True, "NOT EXISTS for NOT IN: same when concert.stadium_id is never NULL (a foreign key)"),
    _p("keys", STADIUM, "SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)",
       "SELECT T1.name FROM stadium AS T1 LEFT JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id "
       "WHERE T2.stadium_id IS NULL", True, "anti-join with LEFT JOIN ... IS NULL"),
    _p("keys", STADIUM, "SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)",
       "SELECT name FROM stadium WHERE stadium_id IN (SELECT stadium_id FROM concert)", False, "IN for NOT IN"),
    _p("keys", STADIUM, "SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)",
       "SELECT DISTINCT T1.name FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id != T2.stadium_id",
       False, "a join on != is not an anti-join"),
    _p("keys", DOGS, "SELECT count(*) FROM Dogs WHERE dog_id NOT IN ( SELECT dog_id FROM Treatments )",
       "SELECT count(*) FROM Dogs AS d LEFT JOIN Treatments AS t ON d.dog_id = t.dog_id WHERE t.dog_id IS NULL",
       True, "anti-join count"),
    _p("keys", DOGS, "SELECT count(*) FROM Dogs WHERE dog_id NOT IN ( SELECT dog_id FROM Treatments )",
       "SELECT (SELECT count(*) FROM Dogs) - (SELECT count(DISTINCT dog_id) FROM Treatments)",
       True, "every treated dog is a dog (foreign key), dogs are unique"),
    _p("keys", DOGS, "SELECT count(*) FROM Dogs WHERE dog_id NOT IN ( SELECT dog_id FROM Treatments )",
       "SELECT (SELECT count(*) FROM Dogs) - (SELECT count(*) FROM Treatments)",
       False, "a dog can have several treatments"),
    _p("keys", DOGS, "SELECT count(*) FROM Dogs WHERE dog_id NOT IN ( SELECT dog_id FROM Treatments )",
       "SELECT count(DISTINCT dog_id) FROM Treatments", False, "counts the treated dogs instead"),
    _p("keys", TEMPLATES, "SELECT template_id FROM Templates EXCEPT SELECT template_id FROM Documents",
       "SELECT template_id FROM Templates WHERE template_id NOT IN (SELECT template_id FROM Documents)",
       True, "EXCEPT on a key is NOT IN (the key has no duplicates to remove)"),
    _p("keys", TEMPLATES, "SELECT template_id FROM Templates EXCEPT SELECT template_id FROM Documents",
       "SELECT t.template_id FROM Templates t LEFT JOIN Documents d ON t.template_id = d.template_id "
       "WHERE d.template_id IS NULL", True, "EXCEPT as an anti-join"),
    _p("keys", TEMPLATES, "SELECT template_id FROM Templates EXCEPT SELECT template_id FROM Documents",
       "SELECT template_id FROM Templates INTERSECT SELECT template_id FROM Documents", False, "INTERSECT for EXCEPT"),
    _p("keys", SONG, "SELECT Singer_ID FROM singer WHERE Singer_ID IN (SELECT Singer_ID FROM song)",
       "SELECT DISTINCT T1.Singer_ID FROM singer AS T1 JOIN song AS T2 ON T1.Singer_ID = T2.Singer_ID",
       True, "IN-subquery as a join with DISTINCT"),
    _p("keys", SONG, "SELECT Singer_ID FROM singer WHERE Singer_ID IN (SELECT Singer_ID FROM song)",
       "SELECT DISTINCT Singer_ID FROM song", True, "every song's singer exists (foreign key)"),
    _p("keys", SONG, "SELECT Singer_ID FROM singer WHERE Singer_ID IN (SELECT Singer_ID FROM song)",
       "SELECT T1.Singer_ID FROM singer AS T1 JOIN song AS T2 ON T1.Singer_ID = T2.Singer_ID",
       False, "without DISTINCT a singer with two songs comes twice"),
    _p("keys", SONG, "SELECT T1.Name FROM singer AS T1 JOIN song AS T2 ON T1.Singer_ID = T2.Singer_ID "
       "GROUP BY T1.Singer_ID HAVING COUNT(*) > 1",
       "SELECT Name FROM singer WHERE Singer_ID IN (SELECT Singer_ID FROM song GROUP BY Singer_ID HAVING count(*) > 1)",
       True, "the grouping moved into the subquery; one row per singer either way"),
    _p("keys", SONG, "SELECT T1.Name FROM singer AS T1 JOIN song AS T2 ON T1.Singer_ID = T2.Singer_ID "
       "GROUP BY T1.Singer_ID HAVING COUNT(*) > 1",
       "SELECT Name FROM singer WHERE Singer_ID IN (SELECT Singer_ID FROM song GROUP BY Singer_ID HAVING count(*) >= 1)",
       False, "at least one song, not more than one"),
    _p("keys", HIGHSCHOOL, "SELECT count(*) FROM Highschooler", "SELECT count(id) FROM Highschooler",
       True, "COUNT(id) is COUNT(*): the key is never NULL"),
    _p("keys", HIGHSCHOOL, "SELECT count(*) FROM Highschooler", "SELECT count(DISTINCT id) FROM Highschooler",
       True, "the key is unique"),
    _p("keys", HIGHSCHOOL, "SELECT count(*) FROM Friend", "SELECT count(student_id) FROM Friend",
       True, "a foreign key column is never NULL"),
    _p("keys", HIGHSCHOOL, "SELECT count(*) FROM Friend", "SELECT count(DISTINCT student_id) FROM Friend",
       False, "a student has several friends: DISTINCT counts students, not friendships"),
    _p("keys", LIKES, 'SELECT count(*) FROM Likes AS T1 JOIN Highschooler AS T2 ON T1.student_id = T2.id '
       'WHERE T2.name = "Kyle"',
       "SELECT count(*) FROM Likes WHERE student_id IN (SELECT id FROM Highschooler WHERE name = 'Kyle')",
       True, "the join does not multiply rows: id is unique"),
    _p("keys", LIKES, 'SELECT count(*) FROM Likes AS T1 JOIN Highschooler AS T2 ON T1.student_id = T2.id '
       'WHERE T2.name = "Kyle"',
       "SELECT count(DISTINCT T1.student_id) FROM Likes AS T1 JOIN Highschooler AS T2 ON T1.student_id = T2.id "
       "WHERE T2.name = 'Kyle'", False, "counts students named Kyle who like someone, not their likes"),
    _p("keys", PETS3, "SELECT stuid FROM student EXCEPT SELECT T1.stuid FROM student AS T1 JOIN has_pet AS T2 ON "
       "T1.stuid = T2.stuid JOIN pets AS T3 ON T3.petid = T2.petid WHERE T3.pettype = 'cat'",
       "SELECT stuid FROM student WHERE stuid NOT IN (SELECT T2.stuid FROM has_pet AS T2 JOIN pets AS T3 "
       "ON T3.petid = T2.petid WHERE T3.pettype = 'cat')", True, "EXCEPT on the key as NOT IN, one join fewer"),
    _p("keys", PETS3, "SELECT stuid FROM student EXCEPT SELECT T1.stuid FROM student AS T1 JOIN has_pet AS T2 ON "
       "T1.stuid = T2.stuid JOIN pets AS T3 ON T3.petid = T2.petid WHERE T3.pettype = 'cat'",
       "SELECT DISTINCT T2.stuid FROM has_pet AS T2 JOIN pets AS T3 ON T3.petid = T2.petid WHERE T3.pettype != 'cat'",
       False, "students with a non-cat pet is not students without a cat"),
    _p("keys", STUDENT_AGE, "select avg(age) from student where stuid not in (select stuid from has_pet)",
       "SELECT avg(T1.age) FROM student AS T1 LEFT JOIN has_pet AS T2 ON T1.stuid = T2.stuid WHERE T2.stuid IS NULL",
       True, "anti-join"),
    _p("keys", STUDENT_AGE, "select avg(age) from student where stuid not in (select stuid from has_pet)",
       "SELECT avg(age) FROM student WHERE stuid IN (SELECT stuid FROM has_pet)", False, "IN for NOT IN"),
    _p("keys", EMPLOYEE_EVAL, "SELECT name FROM employee WHERE Employee_ID NOT IN (SELECT Employee_ID FROM evaluation)",
       "SELECT name FROM employee AS e WHERE NOT EXISTS (SELECT * FROM evaluation AS v WHERE v.Employee_ID = e.Employee_ID)",
       True, "NOT EXISTS for NOT IN"),
    _p("keys", CONDUCTOR, "SELECT T1.Name FROM conductor AS T1 JOIN orchestra AS T2 ON T1.Conductor_ID = T2.Conductor_ID "
       "GROUP BY T2.Conductor_ID HAVING COUNT(*) > 1",
       "SELECT Name FROM conductor WHERE Conductor_ID IN (SELECT Conductor_ID FROM orchestra GROUP BY Conductor_ID "
       "HAVING count(*) > 1)", True, "grouping in the subquery"),
    _p("keys", CONCERT_SINGER, "SELECT T2.name FROM singer_in_concert AS T1 JOIN singer AS T2 ON T1.singer_id = T2.singer_id "
       "JOIN concert AS T3 ON T1.concert_id = T3.concert_id WHERE T3.year = 2014",
       "SELECT s.name FROM singer s JOIN singer_in_concert sc ON s.singer_id = sc.singer_id WHERE sc.concert_id IN "
       "(SELECT concert_id FROM concert WHERE year = 2014)", True, "a join to a key as IN"),

    # -- thresholds ----------------------------------------------------------------------------------------
    _p("thresholds", PETS_WEIGHT, "SELECT count(*) FROM pets WHERE weight  >  10",
       "SELECT count(*) FROM pets WHERE weight >= 10", False, ">= for >"),
    _p("thresholds", PETS_WEIGHT, "SELECT count(*) FROM pets WHERE weight  >  10",
       "SELECT count(*) FROM pets WHERE weight > 9", False, "> 9 takes weight 10"),
    _p("thresholds", PETS_WEIGHT, "SELECT count(*) FROM pets WHERE weight  >  10",
       "SELECT count(*) FROM pets WHERE weight > 11", False, "> 11 drops weight 11"),
    _p("thresholds", PETS_WEIGHT, "SELECT count(*) FROM pets WHERE weight  >  10",
       "SELECT count(*) FROM pets WHERE NOT weight <= 10", True, "NOT <= is >"),
    _p("thresholds", PETS_WEIGHT, "SELECT count(*) FROM pets WHERE weight  >  10",
       "SELECT count(*) FROM pets WHERE 10 < weight", True, "operands swapped"),
    _p("thresholds", SINGER_AGE, "SELECT DISTINCT country FROM singer WHERE age  >  20",
       "SELECT DISTINCT country FROM singer WHERE age > 50", False, "another threshold"),
    _p("thresholds", SINGER_AGE, "SELECT DISTINCT country FROM singer WHERE age  >  20",
       "SELECT DISTINCT country FROM singer WHERE age > 25", False, "another threshold, close"),
    _p("thresholds", HEAD, "SELECT count(*) FROM head WHERE age  >  56",
       "SELECT count(*) FROM head WHERE age >= 57", True, "integers: >= 57 is > 56"),
    _p("thresholds", HEAD, "SELECT count(*) FROM head WHERE age  >  56",
       "SELECT count(*) FROM head WHERE age > 65", False, "another threshold"),
    _p("thresholds", PETS_WEIGHT, "SELECT count(*) FROM pets WHERE weight BETWEEN 5 AND 10",
       "SELECT count(*) FROM pets WHERE weight >= 5 AND weight <= 10", True, "BETWEEN is inclusive"),
    _p("thresholds", PETS_WEIGHT, "SELECT count(*) FROM pets WHERE weight BETWEEN 5 AND 10",
       "SELECT count(*) FROM pets WHERE weight > 5 AND weight < 10", False, "BETWEEN is inclusive"),
    _p("thresholds", AIRLINES, "SELECT T1.Airline FROM AIRLINES AS T1 JOIN FLIGHTS AS T2 ON T1.uid  =  T2.Airline "
       "GROUP BY T1.Airline HAVING count(*)  >  10",
       "SELECT T1.Airline FROM AIRLINES AS T1 JOIN FLIGHTS AS T2 ON T1.uid = T2.Airline GROUP BY T1.Airline "
       "HAVING count(*) >= 10", False, "HAVING >= 10 for > 10"),
    _p("thresholds", AIRLINES, "SELECT T1.Airline FROM AIRLINES AS T1 JOIN FLIGHTS AS T2 ON T1.uid  =  T2.Airline "
       "GROUP BY T1.Airline HAVING count(*)  >  10",
       "SELECT T1.Airline FROM AIRLINES AS T1 JOIN FLIGHTS AS T2 ON T1.uid = T2.Airline GROUP BY T1.Airline "
       "HAVING count(*) >= 11", True, "counts are integers"),
    _p("thresholds", AIRLINES, "SELECT T1.Airline FROM AIRLINES AS T1 JOIN FLIGHTS AS T2 ON T1.uid  =  T2.Airline "
       "GROUP BY T1.Airline HAVING count(*)  <  200",
       "SELECT T1.Airline FROM AIRLINES AS T1 JOIN FLIGHTS AS T2 ON T1.uid = T2.Airline GROUP BY T1.Airline "
       "HAVING count(*) <= 200", False, "<= 200 for < 200"),
    _p("thresholds", GRADE, "SELECT grade FROM Highschooler GROUP BY grade HAVING count(*)  >=  4",
       "SELECT grade FROM Highschooler GROUP BY grade HAVING count(*) > 4", False, "> 4 for >= 4"),
    _p("thresholds", GRADE, "SELECT grade FROM Highschooler GROUP BY grade HAVING count(*)  >=  4",
       "SELECT grade FROM Highschooler GROUP BY grade HAVING count(*) > 3", True, "counts are integers"),
    _p("thresholds", GRADE, "SELECT grade FROM Highschooler GROUP BY grade HAVING count(*)  >=  4",
       "SELECT grade FROM Highschooler GROUP BY grade HAVING count(*) >= 2", False, "another threshold"),
    _p("thresholds", EMPLOYEE, "SELECT name FROM employee WHERE age > 30 ORDER BY age",
       "SELECT name FROM employee WHERE age > 30 ORDER BY age DESC", False, "DESC over the filtered range"),
    _p("thresholds", EMPLOYEE, "SELECT name FROM employee WHERE age > 30 ORDER BY age",
       "SELECT name FROM employee WHERE age >= 31 ORDER BY age ASC", True, "same range, ASC written out"),
    _p("thresholds", COUNTRY_LE, "SELECT sum(Population) ,  GovernmentForm FROM country GROUP BY GovernmentForm "
       "HAVING avg(LifeExpectancy)  >  72",
       "SELECT sum(Population), GovernmentForm FROM country GROUP BY GovernmentForm HAVING avg(LifeExpectancy) > 70",
       False, "another HAVING threshold"),

    # -- like ---------------------------------------------------------------------------------------------
    _p("like", OWNERS, "SELECT first_name ,  last_name ,  email_address FROM Owners WHERE state LIKE '%North%'",
       "SELECT first_name, last_name, email_address FROM Owners WHERE state LIKE 'North%'", False,
       "prefix for infix: 'South North' is missed"),
    _p("like", OWNERS, "SELECT first_name ,  last_name ,  email_address FROM Owners WHERE state LIKE '%North%'",
       "SELECT first_name, last_name, email_address FROM Owners WHERE state LIKE '%north%'", True,
       "LIKE ignores case"),
    _p("like", OWNERS, "SELECT first_name ,  last_name ,  email_address FROM Owners WHERE state LIKE '%North%'",
       "SELECT first_name, last_name, email_address FROM Owners WHERE state = 'North'", False, "= for LIKE"),
    _p("like", SINGER_SONG, "SELECT name ,  country FROM singer WHERE song_name LIKE '%Hey%'",
       "SELECT name, country FROM singer WHERE song_name LIKE '%Hey'", False, "suffix for infix"),
    _p("like", SINGER_SONG, "SELECT name ,  country FROM singer WHERE song_name LIKE '%Hey%'",
       "SELECT name, country FROM singer WHERE song_name LIKE 'Hey%'", False, "prefix for infix"),
    _p("like", DOCUMENTS, 'SELECT document_name ,  template_id FROM Documents WHERE Document_Description LIKE "%w%"',
       "SELECT document_name, template_id FROM Documents WHERE Document_Description LIKE 'w%'", False, "prefix for infix"),
    _p("like", DOCUMENTS, 'SELECT document_name ,  template_id FROM Documents WHERE Document_Description LIKE "%w%"',
       "SELECT document_name, template_id FROM Documents WHERE Document_Description LIKE '%w%'", True, "same pattern, other quotes"),

    # -- order --------------------------------------------------------------------------------------------
    _p("order", CONDUCTOR_AGE, "SELECT Name FROM conductor ORDER BY Age ASC",
       "SELECT Name FROM conductor ORDER BY Age, Name", True, "a tie-breaker after the key"),
    _p("order", CONDUCTOR_AGE, "SELECT Name FROM conductor ORDER BY Age ASC",
       "SELECT Name FROM conductor ORDER BY Age DESC", False, "the other direction"),
    _p("order", CONDUCTOR_AGE, "SELECT Name FROM conductor ORDER BY Age ASC",
       "SELECT Name FROM conductor", False, "the question asks for the order"),
    _p("order", CONDUCTOR_AGE, "SELECT Name FROM conductor ORDER BY Age ASC",
       "SELECT Name FROM conductor ORDER BY Name", False, "ordered by another column"),
    _p("order", SINGER_FR, "SELECT name, age FROM singer WHERE country = 'France'",
       "SELECT name, age FROM singer WHERE country = 'France' ORDER BY age", True, "the gold does not order: any order"),
    _p("order", SINGER_YOUNGEST, "SELECT song_name ,  song_release_year FROM singer ORDER BY age LIMIT 1",
       "SELECT song_name, song_release_year FROM singer ORDER BY age ASC, song_name LIMIT 1", True,
       "a tie-breaker under LIMIT 1 picks one of the youngest"),
    _p("order", SINGER_YOUNGEST, "SELECT song_name ,  song_release_year FROM singer ORDER BY age LIMIT 1",
       "SELECT song_name, song_release_year FROM singer ORDER BY age DESC LIMIT 1", False, "the oldest"),
    _p("order", CONCERT_YEAR, "SELECT YEAR FROM concert GROUP BY YEAR ORDER BY count(*) DESC LIMIT 1",
       "SELECT YEAR FROM concert GROUP BY YEAR ORDER BY count(*) DESC, YEAR DESC LIMIT 1", True,
       "a tie-breaker among the busiest years"),
    _p("order", CONCERT_YEAR, "SELECT YEAR FROM concert GROUP BY YEAR ORDER BY count(*) DESC LIMIT 1",
       "SELECT YEAR FROM concert GROUP BY YEAR ORDER BY count(*) LIMIT 1", False, "the quietest year"),
    _p("order", COUNTRY_POP, "SELECT Name FROM country ORDER BY Population DESC LIMIT 3",
       "SELECT Name FROM country ORDER BY Population DESC, Name LIMIT 3", True, "a tie-breaker"),
    _p("order", COUNTRY_POP, "SELECT Name FROM country ORDER BY Population DESC LIMIT 3",
       "SELECT Name FROM country ORDER BY Population DESC LIMIT 4", False, "four rows for three"),
    _p("order", COUNTRY_POP, "SELECT Name FROM country ORDER BY Population DESC LIMIT 3",
       "SELECT Name FROM country ORDER BY Population LIMIT 3", False, "the smallest three"),
    _p("order", NET_WORTH, "SELECT Name FROM singer ORDER BY Net_Worth_Millions ASC",
       "SELECT Name FROM singer ORDER BY Net_Worth_Millions", True, "ASC is the default"),

    # -- quoted identifiers --------------------------------------------------------------------------------
    _p("quoted", CONDUCTOR_AGE, "SELECT Name FROM conductor ORDER BY Age ASC",
       'SELECT "Name" FROM conductor ORDER BY "Age" ASC', True, "double-quoted column names"),
    _p("quoted", FLIGHTS, 'SELECT FlightNo FROM FLIGHTS WHERE SourceAirport  =  "APG"',
       "SELECT \"FlightNo\" FROM \"FLIGHTS\" WHERE \"SourceAirport\" = 'APG'", True, "quoted names, single-quoted string"),
    _p("quoted", FLIGHTS, 'SELECT FlightNo FROM FLIGHTS WHERE SourceAirport  =  "APG"',
       'SELECT FlightNo FROM FLIGHTS WHERE SourceAirport = "CVO"', False, "another airport"),
    _p("quoted", PEOPLE, 'SELECT Name FROM people WHERE Nationality = "Russia"',
       'SELECT "Name" FROM people WHERE "Nationality" = "Russia"', True, '"Russia" is no column: a string'),
    _p("quoted", PEOPLE, 'SELECT Name FROM people WHERE Nationality = "Russia"',
       "SELECT 'Name' FROM people WHERE Nationality = 'Russia'", False, "a string constant, not the column"),
    _p("quoted", SINGER_FR, 'SELECT count(*) FROM singer WHERE country = "France"',
       "SELECT count(*) FROM singer WHERE \"country\" = 'France'", True, "quoted column name"),

    # -- seed: whitespace around the prediction must not change the verdict ---------------------------------
    _p("seed", SINGER, "SELECT count(*) FROM singer", "SELECT count(*) FROM singer ", True, "trailing space"),
    _p("seed", SINGER, "SELECT count(*) FROM singer", "SELECT count(*) FROM singer;", True, "trailing semicolon"),
    _p("seed", PETS_WEIGHT, "SELECT count(*) FROM pets WHERE weight  >  10",
       "SELECT count(*) FROM pets WHERE weight >= 10 ", False, ">= for >, with a trailing space"),
    _p("seed", PETS_WEIGHT, "SELECT count(*) FROM pets WHERE weight  >  10",
       "SELECT count(*)\nFROM pets\nWHERE weight >= 10", False, ">= for >, on three lines"),
    _p("seed", SINGER_AGE, "SELECT DISTINCT country FROM singer WHERE age  >  20",
       "SELECT DISTINCT country FROM singer WHERE age > 25 ", False, "another threshold, trailing space"),
    _p("seed", GRADE, "SELECT grade FROM Highschooler GROUP BY grade HAVING count(*)  >=  4",
       "SELECT grade FROM Highschooler GROUP BY grade HAVING count(*) > 4 ", False, "> for >=, trailing space"),
    _p("seed", OWNERS, "SELECT first_name ,  last_name ,  email_address FROM Owners WHERE state LIKE '%North%'",
       "SELECT first_name, last_name, email_address FROM Owners WHERE state LIKE 'North%' ", False,
       "prefix for infix, trailing space"),

    # -- strict: what must stay a miss -----------------------------------------------------------------------
    _p("strict", SINGER_AGE, "SELECT DISTINCT country FROM singer WHERE age  >  20",
       "SELECT country FROM singer WHERE age > 20", False, "missing DISTINCT"),
    _p("strict", SINGER_FR, "SELECT count(*) FROM singer WHERE country = 'France'",
       "SELECT count(*) FROM singer WHERE country = 'france'", False, "another literal (= is case-sensitive)"),
    _p("strict", SINGER_FR, "SELECT count(*) FROM singer WHERE country = 'France'",
       "SELECT count(*) FROM singer WHERE country = 'France ' ", False, "another literal (a space inside)"),
    _p("strict", SINGER, "SELECT count(*) FROM singer", "SELECT count(*) FROM singer The answer is 6", False,
       "text after the query"),
    _p("strict", SINGER, "SELECT count(*) FROM singer", "SELECT count(*) FROM singer; SELECT 1", False,
       "a second statement after the query"),
    _p("strict", PETTYPE, "SELECT count(DISTINCT pettype) FROM pets", "SELECT count(pettype) FROM pets", False,
       "missing DISTINCT in the count"),
    _p("strict", STADIUM_CAP, "SELECT avg(capacity) FROM stadium", "SELECT sum(capacity) FROM stadium", False,
       "another aggregate"),
    _p("strict", SINGER_FR, "SELECT name FROM singer WHERE country = 'France' AND age > 20",
       "SELECT name FROM singer WHERE country = 'France' OR age > 20", False, "OR for AND"),
    _p("strict", VOTES, "SELECT count(*) FROM votes WHERE state  =  'NY' OR state  =  'CA'",
       "SELECT count(*) FROM votes WHERE state = 'NY'", False, "one of the two states"),

    # -- general rewrites ------------------------------------------------------------------------------------
    _p("general", VOTES, "SELECT count(*) FROM votes WHERE state  =  'NY' OR state  =  'CA'",
       "SELECT count(*) FROM votes WHERE state IN ('CA', 'NY')", True, "OR as IN"),
    _p("general", STADIUM_CAP, "SELECT max(capacity) FROM stadium",
       "SELECT capacity FROM stadium ORDER BY capacity DESC LIMIT 1", True, "max as ORDER BY DESC LIMIT 1"),
    _p("general", SINGER_FR, "SELECT name, age FROM singer WHERE country = 'France'",
       "SELECT age, name FROM singer WHERE country = 'France'", True, "columns in another order"),
    _p("general", SINGER_FR, "SELECT avg(age) ,  min(age) ,  max(age) FROM singer WHERE country  =  'France'",
       "SELECT AVG(s.age), MIN(s.age), MAX(s.age) FROM singer s WHERE s.country = 'France'", True, "alias, case"),
]
