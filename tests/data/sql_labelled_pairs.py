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


# Held out: realistic model outputs for 45 randomly drawn eval questions (seed 7), written and labelled before
# either method was run on them; the benchmark reports agreement on them separately (not tuned against).
def _h(context, gold, prediction, label, why):
    return _p("holdout", context, gold, prediction, label, why)


_CARTOON = "CREATE TABLE Cartoon (title VARCHAR, Directed_by VARCHAR, Original_air_date VARCHAR)"
_BONUS = "CREATE TABLE evaluation (Employee_ID VARCHAR, bonus VARCHAR); CREATE TABLE employee (name VARCHAR, Employee_ID VARCHAR)"
_ASIA = "CREATE TABLE country (Population INTEGER, GNP INTEGER, Continent VARCHAR)"
_MPG = "CREATE TABLE cars_data (id VARCHAR, mpg VARCHAR); CREATE TABLE car_names (model VARCHAR, makeid VARCHAR)"
_PROF = ("CREATE TABLE Treatments (professional_id VARCHAR, treatment_type_code VARCHAR); CREATE TABLE Treatment_types "
         "(treatment_type_description VARCHAR, treatment_type_code VARCHAR); CREATE TABLE professionals (first_name "
         "VARCHAR, professional_id VARCHAR)")
_NOMAKER = ("CREATE TABLE countries (CountryName VARCHAR, countryId VARCHAR); CREATE TABLE countries (CountryName VARCHAR); "
            "CREATE TABLE CAR_MAKERS (Country VARCHAR)")
_NAT = "CREATE TABLE people (Nationality VARCHAR)"
_MOSTMAKERS = "CREATE TABLE CAR_MAKERS (Country VARCHAR); CREATE TABLE COUNTRIES (CountryName VARCHAR, CountryId VARCHAR)"
_PROFCELL = "CREATE TABLE Professionals (professional_id VARCHAR, cell_number VARCHAR); CREATE TABLE Treatments (professional_id VARCHAR)"
_TEACH = "CREATE TABLE course_arrange (Name VARCHAR, Teacher_id VARCHAR); CREATE TABLE teacher (Name VARCHAR, Teacher_id VARCHAR)"
_PETAGE = "CREATE TABLE pets (pettype VARCHAR, weight VARCHAR, pet_age VARCHAR)"
_ACCEL = "CREATE TABLE CARS_DATA (Accelerate INTEGER, Horsepower VARCHAR)"
_CITY = "CREATE TABLE city (District VARCHAR, Population INTEGER)"
_BEATRIX = ("CREATE TABLE country (Code VARCHAR, HeadOfState VARCHAR); CREATE TABLE countrylanguage (Language VARCHAR, "
            "CountryCode VARCHAR, IsOfficial VARCHAR)")
_EUROPE = ("CREATE TABLE COUNTRIES (CountryName VARCHAR, Continent VARCHAR, CountryId VARCHAR); CREATE TABLE CONTINENTS "
           "(ContId VARCHAR, Continent VARCHAR); CREATE TABLE CAR_MAKERS (Country VARCHAR)")
_LOSER = "CREATE TABLE matches (loser_name VARCHAR)"
_CYL = ("CREATE TABLE CARS_DATA (Id VARCHAR, Horsepower INTEGER, Cylinders VARCHAR); CREATE TABLE CAR_NAMES (MakeId VARCHAR, "
        "Make VARCHAR); CREATE TABLE CARS_DATA (Horsepower INTEGER)")
_AFRICA = "CREATE TABLE country (Name VARCHAR, Continent VARCHAR, population INTEGER)"
_MODELS = "CREATE TABLE model_list (maker VARCHAR); CREATE TABLE car_makers (fullname VARCHAR, id VARCHAR)"
_VISIT = "CREATE TABLE visit (visitor_id VARCHAR); CREATE TABLE visitor (id VARCHAR, name VARCHAR, age VARCHAR)"
_FRANCE = "CREATE TABLE COUNTRIES (CountryId VARCHAR, CountryName VARCHAR); CREATE TABLE CAR_MAKERS (Country VARCHAR)"
_SURFACE = "CREATE TABLE country (SurfaceArea INTEGER, Continent VARCHAR)"
_MUSEUM = "CREATE TABLE museum (Num_of_Staff VARCHAR, Open_Year VARCHAR, name VARCHAR)"
_CAT3 = ("CREATE TABLE student (lname VARCHAR, stuid VARCHAR); CREATE TABLE has_pet (stuid VARCHAR, petid VARCHAR); "
         "CREATE TABLE pets (petid VARCHAR, pet_age VARCHAR, pettype VARCHAR)")
_UNITED = "CREATE TABLE AIRLINES (uid VARCHAR, Airline VARCHAR); CREATE TABLE FLIGHTS (FlightNo VARCHAR, Airline VARCHAR)"
_U30 = "CREATE TABLE employee (city VARCHAR, age INTEGER)"
_JETBLUE = "CREATE TABLE FLIGHTS (Airline VARCHAR); CREATE TABLE AIRLINES (uid VARCHAR, Airline VARCHAR)"
_ADDR = "CREATE TABLE Students (first_name VARCHAR, current_address_id VARCHAR, permanent_address_id VARCHAR)"
_TTYPE = "CREATE TABLE Documents (template_id VARCHAR); CREATE TABLE Templates (template_type_code VARCHAR, template_id VARCHAR)"
_PRES = ("CREATE TABLE Templates (template_id VARCHAR, template_type_code VARCHAR); CREATE TABLE Ref_template_types "
         "(template_type_code VARCHAR, template_type_description VARCHAR)")
_VOTES = "CREATE TABLE votes (vote_id VARCHAR, phone_number VARCHAR, state VARCHAR)"
_USA = ("CREATE TABLE CAR_MAKERS (Id VARCHAR, Country VARCHAR); CREATE TABLE COUNTRIES (CountryId VARCHAR, CountryName "
        "VARCHAR); CREATE TABLE MODEL_LIST (Maker VARCHAR)")
_HOMETOWN = "CREATE TABLE teacher (Hometown VARCHAR, Age VARCHAR)"
_DOGAGE = "CREATE TABLE Dogs (age INTEGER, dog_id VARCHAR); CREATE TABLE Treatments (age INTEGER, dog_id VARCHAR)"
_SECTIONS = "CREATE TABLE Sections (section_name VARCHAR, section_description VARCHAR)"

HOLDOUT = [
    _h(_CARTOON, "SELECT title ,  Directed_by FROM Cartoon ORDER BY Original_air_date",
       "SELECT title, Directed_by FROM Cartoon ORDER BY Original_air_date ASC", True, "ASC written out"),
    _h(_CARTOON, "SELECT title ,  Directed_by FROM Cartoon ORDER BY Original_air_date",
       "SELECT title, Directed_by FROM Cartoon", False, "the order is asked for"),
    _h(_BONUS, "SELECT t1.name FROM employee AS t1 JOIN evaluation AS t2 ON t1.Employee_ID  =  t2.Employee_ID ORDER BY "
       "t2.bonus DESC LIMIT 1", "SELECT name FROM employee WHERE Employee_ID = (SELECT Employee_ID FROM evaluation "
       "ORDER BY bonus DESC LIMIT 1)", True, "the top evaluation's employee"),
    _h(_BONUS, "SELECT t1.name FROM employee AS t1 JOIN evaluation AS t2 ON t1.Employee_ID  =  t2.Employee_ID ORDER BY "
       "t2.bonus DESC LIMIT 1", "SELECT t1.name FROM employee t1 JOIN evaluation t2 ON t1.Employee_ID = t2.Employee_ID "
       "ORDER BY t2.bonus LIMIT 1", False, "the lowest bonus"),
    _h(_ASIA, 'SELECT sum(Population) ,  max(GNP) FROM country WHERE Continent  =  "Asia"',
       "SELECT SUM(Population), MAX(GNP) FROM country WHERE Continent = 'Asia'", True, "case, quotes"),
    _h(_ASIA, 'SELECT sum(Population) ,  max(GNP) FROM country WHERE Continent  =  "Asia"',
       "SELECT sum(Population), max(GNP) FROM country WHERE Continent = 'asia'", False, "another literal"),
    _h("CREATE TABLE CONTINENTS (Id VARCHAR)", "SELECT count(*) FROM CONTINENTS;",
       "SELECT count(DISTINCT Id) FROM CONTINENTS", True, "the key is unique"),
    _h(_MPG, "select t1.model from car_names as t1 join cars_data as t2 on t1.makeid  =  t2.id order by t2.mpg desc "
       "limit 1;", "SELECT t1.model FROM car_names AS t1 JOIN cars_data AS t2 ON t1.makeid = t2.id ORDER BY t2.mpg "
       "LIMIT 1", False, "the lowest mpg"),
    _h(_PROF, "SELECT DISTINCT T1.first_name ,  T3.treatment_type_description FROM professionals AS T1 JOIN Treatments "
       "AS T2 ON T1.professional_id  =  T2.professional_id JOIN Treatment_types AS T3 ON T2.treatment_type_code  =  "
       "T3.treatment_type_code", "SELECT DISTINCT p.first_name, tt.treatment_type_description FROM Treatments t JOIN "
       "professionals p ON p.professional_id = t.professional_id JOIN Treatment_types tt ON tt.treatment_type_code = "
       "t.treatment_type_code", True, "joins in another order"),
    _h(_PROF, "SELECT DISTINCT T1.first_name ,  T3.treatment_type_description FROM professionals AS T1 JOIN Treatments "
       "AS T2 ON T1.professional_id  =  T2.professional_id JOIN Treatment_types AS T3 ON T2.treatment_type_code  =  "
       "T3.treatment_type_code", "SELECT T1.first_name, T3.treatment_type_description FROM professionals AS T1 JOIN "
       "Treatments AS T2 ON T1.professional_id = T2.professional_id JOIN Treatment_types AS T3 ON "
       "T2.treatment_type_code = T3.treatment_type_code", False, "missing DISTINCT"),
    _h(_NOMAKER, "SELECT CountryName FROM countries EXCEPT SELECT T1.CountryName FROM countries AS T1 JOIN CAR_MAKERS "
       "AS T2 ON T1.countryId  =  T2.Country;", "SELECT T1.CountryName FROM countries AS T1 JOIN CAR_MAKERS AS T2 ON "
       "T1.countryId = T2.Country", False, "the countries with makers"),
    _h(_NAT, "SELECT Nationality FROM people GROUP BY Nationality HAVING COUNT(*)  >=  2",
       "SELECT Nationality FROM people GROUP BY Nationality HAVING COUNT(*) > 1", True, "integers"),
    _h(_NAT, "SELECT Nationality FROM people GROUP BY Nationality HAVING COUNT(*)  >=  2",
       "SELECT Nationality FROM people GROUP BY Nationality HAVING COUNT(*) > 2", False, "another threshold"),
    _h(_NAT, "SELECT Nationality FROM people GROUP BY Nationality HAVING COUNT(*)  >=  2",
       "SELECT DISTINCT Nationality FROM people", False, "no threshold"),
    _h(_MOSTMAKERS, "SELECT T2.CountryName FROM CAR_MAKERS AS T1 JOIN COUNTRIES AS T2 ON T1.Country  =  T2.CountryId "
       "GROUP BY T1.Country ORDER BY Count(*) DESC LIMIT 1;", "SELECT T2.CountryName FROM CAR_MAKERS AS T1 JOIN "
       "COUNTRIES AS T2 ON T1.Country = T2.CountryId GROUP BY T1.Country ORDER BY count(*) ASC LIMIT 1", False,
       "the fewest makers"),
    _h(_PROFCELL, "SELECT T1.professional_id ,  T1.cell_number FROM Professionals AS T1 JOIN Treatments AS T2 ON "
       "T1.professional_id  =  T2.professional_id GROUP BY T1.professional_id HAVING count(*)  >=  2",
       "SELECT professional_id, cell_number FROM Professionals WHERE professional_id IN (SELECT professional_id FROM "
       "Treatments GROUP BY professional_id HAVING count(*) >= 2)", True, "grouping in the subquery"),
    _h(_PROFCELL, "SELECT T1.professional_id ,  T1.cell_number FROM Professionals AS T1 JOIN Treatments AS T2 ON "
       "T1.professional_id  =  T2.professional_id GROUP BY T1.professional_id HAVING count(*)  >=  2",
       "SELECT T1.professional_id, T1.cell_number FROM Professionals AS T1 JOIN Treatments AS T2 ON "
       "T1.professional_id = T2.professional_id GROUP BY T1.professional_id HAVING count(*) > 2", False, "> 2 for >= 2"),
    _h(_TEACH, "SELECT Name FROM teacher WHERE Teacher_id NOT IN (SELECT Teacher_id FROM course_arrange)",
       "SELECT T1.Name FROM teacher AS T1 LEFT JOIN course_arrange AS T2 ON T1.Teacher_id = T2.Teacher_id WHERE "
       "T2.Teacher_id IS NULL", True, "anti-join"),
    _h(_TEACH, "SELECT Name FROM teacher WHERE Teacher_id NOT IN (SELECT Teacher_id FROM course_arrange)",
       "SELECT Name FROM teacher EXCEPT SELECT Name FROM course_arrange", False, "names of another table"),
    _h(_PETAGE, "SELECT pettype ,  weight FROM pets ORDER BY pet_age LIMIT 1",
       "SELECT pettype, weight FROM pets ORDER BY pet_age ASC LIMIT 1", True, "ASC written out"),
    _h(_PETAGE, "SELECT pettype ,  weight FROM pets ORDER BY pet_age LIMIT 1",
       "SELECT pettype, weight FROM pets ORDER BY pet_age DESC LIMIT 1", False, "the oldest"),
    _h(_ACCEL, "SELECT COUNT(*) FROM CARS_DATA WHERE Accelerate  >  ( SELECT Accelerate FROM CARS_DATA ORDER BY "
       "Horsepower DESC LIMIT 1 );", "SELECT COUNT(*) FROM CARS_DATA WHERE Accelerate > (SELECT max(Accelerate) FROM "
       "CARS_DATA)", False, "the largest accelerate, not the strongest car's"),
    _h(_CITY, "SELECT count(*) ,  District FROM city WHERE Population  >  (SELECT avg(Population) FROM city) GROUP BY "
       "District", "SELECT COUNT(*), District FROM city WHERE Population > (SELECT AVG(Population) FROM city) GROUP BY "
       "District", True, "case"),
    _h(_CITY, "SELECT count(*) ,  District FROM city WHERE Population  >  (SELECT avg(Population) FROM city) GROUP BY "
       "District", "SELECT count(*), District FROM city GROUP BY District HAVING Population > avg(Population)",
       False, "the district's average, not the whole table's"),
    _h(_BEATRIX, 'SELECT T2.Language FROM country AS T1 JOIN countrylanguage AS T2 ON T1.Code  =  T2.CountryCode WHERE '
       'T1.HeadOfState  =  "Beatrix" AND T2.IsOfficial  =  "T"', "SELECT Language FROM countrylanguage WHERE "
       "CountryCode IN (SELECT Code FROM country WHERE HeadOfState = 'Beatrix') AND IsOfficial = 'T'", True,
       "a join to the key as IN"),
    _h(_BEATRIX, 'SELECT T2.Language FROM country AS T1 JOIN countrylanguage AS T2 ON T1.Code  =  T2.CountryCode WHERE '
       'T1.HeadOfState  =  "Beatrix" AND T2.IsOfficial  =  "T"', "SELECT T2.Language FROM country AS T1 JOIN "
       "countrylanguage AS T2 ON T1.Code = T2.CountryCode WHERE T1.HeadOfState = 'Beatrix'", False, "not only official"),
    _h(_LOSER, "SELECT count(DISTINCT loser_name) FROM matches", "SELECT count(loser_name) FROM matches", False,
       "missing DISTINCT"),
    _h(_AFRICA, 'SELECT Name FROM country WHERE Continent  =  "Asia"  AND population  >  (SELECT min(population) FROM '
       'country WHERE Continent  =  "Africa")', "SELECT Name FROM country WHERE Continent = 'Asia' AND population > "
       "(SELECT max(population) FROM country WHERE Continent = 'Africa')", False, "all for any"),
    _h(_MODELS, "select count(*) ,  t2.fullname from model_list as t1 join car_makers as t2 on t1.maker  =  t2.id group "
       "by t2.id;", "SELECT count(*), t2.fullname FROM car_makers t2 JOIN model_list t1 ON t2.id = t1.maker GROUP BY "
       "t1.maker", True, "grouped by the joined column"),
    _h(_VISIT, "SELECT t1.id ,  t1.name ,  t1.age FROM visitor AS t1 JOIN visit AS t2 ON t1.id  =  t2.visitor_id GROUP "
       "BY t1.id HAVING count(*)  >  1", "SELECT id, name, age FROM visitor WHERE id IN (SELECT visitor_id FROM visit "
       "GROUP BY visitor_id HAVING count(*) > 1)", True, "grouping in the subquery"),
    _h(_VISIT, "SELECT t1.id ,  t1.name ,  t1.age FROM visitor AS t1 JOIN visit AS t2 ON t1.id  =  t2.visitor_id GROUP "
       "BY t1.id HAVING count(*)  >  1", "SELECT t1.id, t1.name, t1.age FROM visitor AS t1 JOIN visit AS t2 ON t1.id = "
       "t2.visitor_id GROUP BY t1.id HAVING count(*) >= 1", False, "once is enough there"),
    _h(_FRANCE, "SELECT count(*) FROM CAR_MAKERS AS T1 JOIN COUNTRIES AS T2 ON T1.Country  =  T2.CountryId WHERE "
       "T2.CountryName  =  'france';", "SELECT count(*) FROM CAR_MAKERS WHERE Country IN (SELECT CountryId FROM "
       "COUNTRIES WHERE CountryName = 'france')", True, "a join to the key as IN"),
    _h(_FRANCE, "SELECT count(*) FROM CAR_MAKERS AS T1 JOIN COUNTRIES AS T2 ON T1.Country  =  T2.CountryId WHERE "
       "T2.CountryName  =  'france';", "SELECT count(*) FROM COUNTRIES WHERE CountryName = 'france'", False,
       "counts countries"),
    _h(_SURFACE, 'SELECT sum(SurfaceArea) FROM country WHERE Continent  =  "Asia" OR Continent  =  "Europe"',
       "SELECT sum(SurfaceArea) FROM country WHERE Continent IN ('Asia', 'Europe')", True, "IN"),
    _h(_SURFACE, 'SELECT sum(SurfaceArea) FROM country WHERE Continent  =  "Asia" OR Continent  =  "Europe"',
       "SELECT sum(SurfaceArea) FROM country WHERE Continent = 'Asia' AND Continent = 'Europe'", False, "AND for OR"),
    _h(_MUSEUM, "SELECT Num_of_Staff ,  Open_Year FROM museum WHERE name  =  'Plaza Museum'",
       'SELECT Num_of_Staff, Open_Year FROM museum WHERE name = "Plaza Museum"', True, "quotes"),
    _h(_MUSEUM, "SELECT Num_of_Staff ,  Open_Year FROM museum WHERE name  =  'Plaza Museum'",
       "SELECT Num_of_Staff, Open_Year FROM museum WHERE name LIKE '%Plaza%'", False, "LIKE for ="),
    _h(_CAT3, "SELECT T1.lname FROM student AS T1 JOIN has_pet AS T2 ON T1.stuid  =  T2.stuid JOIN pets AS T3 ON "
       "T3.petid  =  T2.petid WHERE T3.pet_age  =  3 AND T3.pettype  =  'cat'", "SELECT T1.lname FROM student AS T1 "
       "JOIN has_pet AS T2 ON T1.stuid = T2.stuid JOIN pets AS T3 ON T3.petid = T2.petid WHERE T3.pettype = 'cat' AND "
       "T3.pet_age = '3'", True, "'3' for 3 on a text column"),
    _h(_UNITED, 'SELECT T1.FlightNo FROM FLIGHTS AS T1 JOIN AIRLINES AS T2 ON T2.uid  =  T1.Airline WHERE T2.Airline  =  '
       '"United Airlines"', "SELECT FlightNo FROM FLIGHTS WHERE Airline IN (SELECT uid FROM AIRLINES WHERE Airline = "
       "'United Airlines')", True, "a join to the key as IN"),
    _h(_UNITED, 'SELECT T1.FlightNo FROM FLIGHTS AS T1 JOIN AIRLINES AS T2 ON T2.uid  =  T1.Airline WHERE T2.Airline  =  '
       '"United Airlines"', "SELECT FlightNo FROM FLIGHTS WHERE Airline = 'United Airlines'", False,
       "FLIGHTS.Airline holds the uid"),
    _h(_U30, "SELECT city FROM employee WHERE age  <  30 GROUP BY city HAVING count(*)  >  1",
       "SELECT city FROM employee WHERE age < 30 GROUP BY city HAVING count(*) >= 2", True, "integers"),
    _h(_U30, "SELECT city FROM employee WHERE age  <  30 GROUP BY city HAVING count(*)  >  1",
       "SELECT city FROM employee GROUP BY city HAVING count(*) > 1 AND age < 30", False, "the filter after grouping"),
    _h(NET_WORTH, "SELECT Name FROM singer ORDER BY Net_Worth_Millions DESC LIMIT 1",
       "SELECT Name FROM singer ORDER BY Net_Worth_Millions LIMIT 1", False, "the smallest"),
    _h(_JETBLUE, 'SELECT count(*) FROM FLIGHTS AS T1 JOIN AIRLINES AS T2 ON T1.Airline  =  T2.uid WHERE T2.Airline = '
       '"JetBlue Airways"', "SELECT count(*) FROM FLIGHTS WHERE Airline IN (SELECT uid FROM AIRLINES WHERE Airline = "
       "'JetBlue Airways')", True, "a join to the key as IN"),
    _h(_ADDR, "SELECT first_name FROM Students WHERE current_address_id != permanent_address_id",
       "SELECT first_name FROM Students WHERE current_address_id <> permanent_address_id", True, "<> for !="),
    _h(_ADDR, "SELECT first_name FROM Students WHERE current_address_id != permanent_address_id",
       "SELECT first_name FROM Students WHERE current_address_id = permanent_address_id", False, "= for !="),
    _h(_TTYPE, "SELECT T1.template_type_code ,  count(*) FROM Templates AS T1 JOIN Documents AS T2 ON T1.template_id  "
       "=  T2.template_id GROUP BY T1.template_type_code", "SELECT T1.template_type_code, count(T2.template_id) FROM "
       "Templates AS T1 JOIN Documents AS T2 ON T1.template_id = T2.template_id GROUP BY T1.template_type_code", True,
       "a foreign key is never NULL"),
    _h(_TTYPE, "SELECT T1.template_type_code ,  count(*) FROM Templates AS T1 JOIN Documents AS T2 ON T1.template_id  "
       "=  T2.template_id GROUP BY T1.template_type_code", "SELECT template_type_code, count(*) FROM Templates GROUP BY "
       "template_type_code", False, "counts templates, not documents"),
    _h(_PRES, 'SELECT T2.template_id FROM Ref_template_types AS T1 JOIN Templates AS T2 ON T1.template_type_code  = '
       'T2.template_type_code WHERE T1.template_type_description  =  "Presentation"', "SELECT template_id FROM "
       "Templates WHERE template_type_code IN (SELECT template_type_code FROM Ref_template_types WHERE "
       "template_type_description = 'Presentation')", True, "a code is the key of its reference table"),
    _h(_VOTES, "SELECT vote_id ,  phone_number ,  state FROM votes",
       "SELECT vote_id, phone_number, state FROM votes ORDER BY vote_id", True, "the gold does not order"),
    _h(_USA, "SELECT count(*) FROM MODEL_LIST AS T1 JOIN CAR_MAKERS AS T2 ON T1.Maker  =  T2.Id JOIN COUNTRIES AS T3 ON "
       "T2.Country  =  T3.CountryId WHERE T3.CountryName  =  'usa';", "SELECT count(*) FROM MODEL_LIST WHERE Maker IN "
       "(SELECT Id FROM CAR_MAKERS WHERE Country IN (SELECT CountryId FROM COUNTRIES WHERE CountryName = 'usa'))",
       True, "joins to keys as nested IN"),
    _h(_HOMETOWN, "SELECT Hometown FROM teacher ORDER BY Age ASC LIMIT 1",
       "SELECT Hometown FROM teacher ORDER BY Age LIMIT 1", True, "ASC is the default"),
    _h(_DOGAGE, "SELECT avg(age) FROM Dogs WHERE dog_id IN ( SELECT dog_id FROM Treatments )",
       "SELECT avg(T1.age) FROM Dogs AS T1 JOIN Treatments AS T2 ON T1.dog_id = T2.dog_id", False,
       "dogs with several treatments count several times"),
    _h(_DOGAGE, "SELECT avg(age) FROM Dogs WHERE dog_id IN ( SELECT dog_id FROM Treatments )",
       "SELECT avg(age) FROM Dogs WHERE dog_id IN (SELECT DISTINCT dog_id FROM Treatments)", True, "DISTINCT in IN"),
    _h(_SECTIONS, "SELECT section_name ,  section_description FROM Sections", "SELECT section_name FROM Sections",
       False, "a column missing"),
    _h(_CYL, "SELECT T2.MakeId ,  T2.Make FROM CARS_DATA AS T1 JOIN CAR_NAMES AS T2 ON T1.Id  =  T2.MakeId WHERE "
       "T1.Horsepower  >  (SELECT min(Horsepower) FROM CARS_DATA) AND T1.Cylinders  <=  3;", "SELECT T2.MakeId, "
       "T2.Make FROM CARS_DATA AS T1 JOIN CAR_NAMES AS T2 ON T1.Id = T2.MakeId WHERE T1.Horsepower > (SELECT "
       "min(Horsepower) FROM CARS_DATA) AND T1.Cylinders < 4", True, "cylinders are whole numbers"),
    _h(_EUROPE, "SELECT T1.CountryName FROM COUNTRIES AS T1 JOIN CONTINENTS AS T2 ON T1.Continent  =  T2.ContId JOIN "
       "CAR_MAKERS AS T3 ON T1.CountryId  =  T3.Country WHERE T2.Continent  =  'europe' GROUP BY T1.CountryName HAVING "
       "count(*)  >=  3;", "SELECT T1.CountryName FROM COUNTRIES AS T1 JOIN CONTINENTS AS T2 ON T1.Continent = T2.ContId "
       "JOIN CAR_MAKERS AS T3 ON T1.CountryId = T3.Country WHERE T2.Continent = 'europe' GROUP BY T1.CountryName "
       "HAVING count(*) > 2", True, "integers"),
]


# Held out, second batch: 30 more eval questions drawn at random (seed 11), written and labelled after the method
# was final, before it ran on them.
def _h2(context, gold, prediction, label, why):
    return _p("holdout2", context, gold, prediction, label, why)


_SHOW = "CREATE TABLE SHOW (Attendance INTEGER)"
_ORCH_INT = "CREATE TABLE orchestra (Record_Company VARCHAR, Year_of_Founded INTEGER)"
_ORCH = "CREATE TABLE orchestra (Record_Company VARCHAR, Year_of_Founded VARCHAR)"
_PARAS = "CREATE TABLE Documents (document_ID VARCHAR, document_name VARCHAR); CREATE TABLE Paragraphs (document_ID VARCHAR)"
_REF = "CREATE TABLE Ref_template_types (template_type_description VARCHAR, template_type_code VARCHAR)"
_OWNERS_DOGS = "CREATE TABLE Dogs (name VARCHAR, owner_id VARCHAR); CREATE TABLE Owners (first_name VARCHAR, owner_id VARCHAR)"
_TRANSCRIPTS = ("CREATE TABLE Transcript_Contents (transcript_id VARCHAR); CREATE TABLE Transcripts (transcript_date VARCHAR, "
                "transcript_id VARCHAR)")
_EMP_AGE = "CREATE TABLE employee (name VARCHAR, age VARCHAR)"
_CITIZEN = "CREATE TABLE singer (Name VARCHAR, Citizenship VARCHAR)"
_STUDENT_PET = "CREATE TABLE student (fname VARCHAR, age VARCHAR, stuid VARCHAR); CREATE TABLE has_pet (stuid VARCHAR)"
_LIFE = "CREATE TABLE country (LifeExpectancy INTEGER, Continent VARCHAR, GovernmentForm VARCHAR)"
_SHOP = "CREATE TABLE shop (district VARCHAR, Number_products INTEGER)"
_ABANDONED = "CREATE TABLE Dogs (name VARCHAR, age VARCHAR, weight VARCHAR, abandoned_yn VARCHAR)"
_TOURNEY = "CREATE TABLE matches (tourney_name VARCHAR)"
_FEMALE_DOG = ("CREATE TABLE has_pet (stuid VARCHAR, petid VARCHAR); CREATE TABLE pets (petid VARCHAR, pettype VARCHAR); "
               "CREATE TABLE student (stuid VARCHAR, sex VARCHAR)")
_ORCH_PERF = ("CREATE TABLE orchestra (Orchestra VARCHAR, Orchestra_ID VARCHAR); CREATE TABLE performance (Orchestra VARCHAR, "
              "Orchestra_ID VARCHAR)")
_TV = "CREATE TABLE TV_Channel (series_name VARCHAR, content VARCHAR)"
_EUROPE_POP = "CREATE TABLE country (Name VARCHAR, continent VARCHAR, Population VARCHAR)"
_PARAGRAPHS = "CREATE TABLE Paragraphs (document_id VARCHAR)"
_TREATED = "CREATE TABLE Treatments (dog_id VARCHAR)"
_REC = ("SELECT Record_Company FROM orchestra WHERE Year_of_Founded  <  2003 INTERSECT SELECT Record_Company FROM "
        "orchestra WHERE Year_of_Founded  >  2003")
_NOCAT = ("SELECT stuid FROM student EXCEPT SELECT T1.stuid FROM student AS T1 JOIN has_pet AS T2 ON T1.stuid  =  T2.stuid "
          "JOIN pets AS T3 ON T3.petid  =  T2.petid WHERE T3.pettype  =  'cat'")
_FEMALE_GOLD = ("SELECT count(*) FROM student AS T1 JOIN has_pet AS T2 ON T1.stuid  =  T2.stuid JOIN pets AS T3 ON "
                "T2.petid  =  T3.petid WHERE T1.sex  =  'F' AND T3.pettype  =  'dog'")

HOLDOUT2 = [
    _h2(_SHOW, "SELECT avg(Attendance) FROM SHOW", "SELECT AVG(Attendance) FROM show", True, "case"),
    _h2(_SHOW, "SELECT avg(Attendance) FROM SHOW", "SELECT sum(Attendance) / count(*) FROM SHOW", False,
        "integer division, and NULL rows counted"),
    _h2(_ORCH_INT, _REC, "SELECT Record_Company FROM orchestra WHERE Year_of_Founded <= 2003 INTERSECT SELECT "
        "Record_Company FROM orchestra WHERE Year_of_Founded >= 2003", False, "2003 itself included"),
    _h2(_ORCH, "SELECT Record_Company FROM orchestra ORDER BY Year_of_Founded DESC",
        "SELECT Record_Company FROM orchestra ORDER BY Year_of_Founded", False, "ascending"),
    _h2(_ORCH, "SELECT Record_Company FROM orchestra ORDER BY Year_of_Founded DESC",
        "SELECT Record_Company FROM orchestra ORDER BY Year_of_Founded DESC, Record_Company", True, "a tie-breaker"),
    _h2(_PARAS, "SELECT count(*) FROM Paragraphs AS T1 JOIN Documents AS T2 ON T1.document_ID  =  T2.document_ID WHERE "
        "T2.document_name  =  'Summer Show'", "SELECT count(*) FROM Paragraphs WHERE document_ID IN (SELECT document_ID "
        "FROM Documents WHERE document_name = 'Summer Show')", True, "a join to the key as IN"),
    _h2(_PARAS, "SELECT count(*) FROM Paragraphs AS T1 JOIN Documents AS T2 ON T1.document_ID  =  T2.document_ID WHERE "
        "T2.document_name  =  'Summer Show'", "SELECT count(*) FROM Documents WHERE document_name = 'Summer Show'",
        False, "counts documents"),
    _h2(_REF, 'SELECT template_type_description FROM Ref_template_types WHERE template_type_code  =  "AD"',
        "SELECT template_type_description FROM Ref_template_types WHERE template_type_code = 'AD'", True, "quotes"),
    _h2(_REF, 'SELECT template_type_description FROM Ref_template_types WHERE template_type_code  =  "AD"',
        "SELECT template_type_description FROM Ref_template_types WHERE template_type_code LIKE 'AD%'", False,
        "prefix for equality"),
    _h2(_OWNERS_DOGS, "SELECT T1.first_name ,  T2.name FROM Owners AS T1 JOIN Dogs AS T2 ON T1.owner_id  =  T2.owner_id",
        "SELECT o.first_name, d.name FROM Dogs d JOIN Owners o ON d.owner_id = o.owner_id", True, "join order"),
    _h2(_OWNERS_DOGS, "SELECT T1.first_name ,  T2.name FROM Owners AS T1 JOIN Dogs AS T2 ON T1.owner_id  =  T2.owner_id",
        "SELECT T1.first_name, T2.name FROM Owners AS T1, Dogs AS T2", False, "a cross join"),
    _h2("CREATE TABLE Highschooler (grade VARCHAR)",
        "SELECT grade FROM Highschooler GROUP BY grade ORDER BY count(*) DESC LIMIT 1",
        "SELECT grade FROM Highschooler GROUP BY grade ORDER BY count(*) ASC LIMIT 1", False, "the fewest"),
    _h2("CREATE TABLE Ref_template_types (template_type_code VARCHAR, template_type_description VARCHAR)",
        'SELECT template_type_code FROM Ref_template_types WHERE template_type_description  =  "Book"',
        "SELECT template_type_code FROM Ref_template_types WHERE template_type_description = 'Book'", True, "quotes"),
    _h2(_TRANSCRIPTS, "SELECT T2.transcript_date ,  T1.transcript_id FROM Transcript_Contents AS T1 JOIN Transcripts AS "
        "T2 ON T1.transcript_id  =  T2.transcript_id GROUP BY T1.transcript_id HAVING count(*)  >=  2",
        "SELECT T2.transcript_date, T1.transcript_id FROM Transcript_Contents AS T1 JOIN Transcripts AS T2 ON "
        "T1.transcript_id = T2.transcript_id GROUP BY T1.transcript_id HAVING count(*) > 1", True, "integers"),
    _h2(_TRANSCRIPTS, "SELECT T2.transcript_date ,  T1.transcript_id FROM Transcript_Contents AS T1 JOIN Transcripts AS "
        "T2 ON T1.transcript_id  =  T2.transcript_id GROUP BY T1.transcript_id HAVING count(*)  >=  2",
        "SELECT T2.transcript_date, T1.transcript_id FROM Transcript_Contents AS T1 JOIN Transcripts AS T2 ON "
        "T1.transcript_id = T2.transcript_id GROUP BY T1.transcript_id HAVING count(*) > 2", False, "> 2 for >= 2"),
    _h2(_EMP_AGE, "SELECT name FROM employee ORDER BY age", "SELECT name FROM employee ORDER BY age ASC", True, "ASC"),
    _h2(_EMP_AGE, "SELECT name FROM employee ORDER BY age", "SELECT name FROM employee ORDER BY age DESC", False,
        "descending"),
    _h2(_CITIZEN, 'SELECT Name FROM singer WHERE Citizenship != "France"',
        "SELECT Name FROM singer WHERE Citizenship <> 'France'", True, "<> for !="),
    _h2(_CITIZEN, 'SELECT Name FROM singer WHERE Citizenship != "France"',
        "SELECT Name FROM singer WHERE NOT Citizenship = 'France'", True, "NOT ="),
    _h2(_STUDENT_PET, "SELECT DISTINCT T1.fname ,  T1.age FROM student AS T1 JOIN has_pet AS T2 ON T1.stuid  =  T2.stuid",
        "SELECT T1.fname, T1.age FROM student AS T1 JOIN has_pet AS T2 ON T1.stuid = T2.stuid", False,
        "missing DISTINCT: a student with two pets comes twice"),
    _h2(_LIFE, 'SELECT avg(LifeExpectancy) FROM country WHERE Continent  =  "Africa" AND GovernmentForm  =  "Republic"',
        "SELECT AVG(LifeExpectancy) FROM country WHERE GovernmentForm = 'Republic' AND Continent = 'Africa'", True,
        "AND order"),
    _h2(_LIFE, 'SELECT avg(LifeExpectancy) FROM country WHERE Continent  =  "Africa" AND GovernmentForm  =  "Republic"',
        "SELECT avg(LifeExpectancy) FROM country WHERE Continent = 'Africa' OR GovernmentForm = 'Republic'", False,
        "OR for AND"),
    _h2(_SHOP, "SELECT district FROM shop WHERE Number_products  <  3000 INTERSECT SELECT district FROM shop WHERE "
        "Number_products  >  10000", "SELECT district FROM shop WHERE Number_products < 3000 AND Number_products > "
        "10000", False, "one shop cannot be both"),
    _h2("CREATE TABLE concert (YEAR VARCHAR)", "SELECT YEAR FROM concert GROUP BY YEAR ORDER BY count(*) DESC LIMIT 1",
        "SELECT YEAR, count(*) FROM concert GROUP BY YEAR ORDER BY count(*) DESC LIMIT 1", False, "an extra column"),
    _h2(_ABANDONED, "SELECT name ,  age ,  weight FROM Dogs WHERE abandoned_yn  =  1",
        "SELECT name, age, weight FROM Dogs WHERE abandoned_yn = '1'", True, "'1' for 1 on a text column"),
    _h2(_ABANDONED, "SELECT name ,  age ,  weight FROM Dogs WHERE abandoned_yn  =  1",
        "SELECT name, age, weight FROM Dogs WHERE abandoned_yn = 0", False, "the other flag"),
    _h2(_USA, "SELECT count(*) FROM MODEL_LIST AS T1 JOIN CAR_MAKERS AS T2 ON T1.Maker  =  T2.Id JOIN COUNTRIES AS T3 ON "
        "T2.Country  =  T3.CountryId WHERE T3.CountryName  =  'usa';", "SELECT count(*) FROM MODEL_LIST AS T1 JOIN "
        "CAR_MAKERS AS T2 ON T1.Maker = T2.Id JOIN COUNTRIES AS T3 ON T2.Country = T3.CountryId WHERE T3.CountryName = "
        "'USA'", False, "another literal"),
    _h2(_MODELS, "select count(*) ,  t2.fullname from model_list as t1 join car_makers as t2 on t1.maker  =  t2.id group "
        "by t2.id;", "SELECT count(*), t2.fullname FROM model_list AS t1 JOIN car_makers AS t2 ON t1.maker = t2.id "
        "GROUP BY t2.id ORDER BY count(*) DESC", True, "an order the gold does not ask for"),
    _h2(PETS3, _NOCAT, "SELECT stuid FROM student WHERE stuid NOT IN (SELECT stuid FROM has_pet WHERE petid IN (SELECT "
        "petid FROM pets WHERE pettype = 'cat'))", True, "nested IN for the joins"),
    _h2(_TOURNEY, "SELECT tourney_name FROM matches GROUP BY tourney_name HAVING count(*)  >  10",
        "SELECT tourney_name FROM matches GROUP BY tourney_name HAVING count(*) >= 10", False, ">= 10 for > 10"),
    _h2(_TOURNEY, "SELECT tourney_name FROM matches GROUP BY tourney_name HAVING count(*)  >  10",
        "SELECT tourney_name FROM matches GROUP BY tourney_name HAVING count(*) >= 11", True, "integers"),
    _h2(_FEMALE_DOG, _FEMALE_GOLD, "SELECT count(*) FROM has_pet AS T2 JOIN student AS T1 ON T1.stuid = T2.stuid JOIN "
        "pets AS T3 ON T2.petid = T3.petid WHERE T3.pettype = 'dog' AND T1.sex = 'F'", True, "join order"),
    _h2(_FEMALE_DOG, _FEMALE_GOLD, "SELECT count(DISTINCT T1.stuid) FROM student AS T1 JOIN has_pet AS T2 ON T1.stuid = "
        "T2.stuid JOIN pets AS T3 ON T2.petid = T3.petid WHERE T1.sex = 'F' AND T3.pettype = 'dog'", False,
        "counts students, not dogs"),
    _h2(_ORCH_PERF, "SELECT Orchestra FROM orchestra WHERE Orchestra_ID NOT IN (SELECT Orchestra_ID FROM performance)",
        "SELECT Orchestra FROM orchestra AS o WHERE NOT EXISTS (SELECT 1 FROM performance AS p WHERE p.Orchestra_ID = "
        "o.Orchestra_ID)", True, "NOT EXISTS"),
    _h2(_ORCH_PERF, "SELECT Orchestra FROM orchestra WHERE Orchestra_ID NOT IN (SELECT Orchestra_ID FROM performance)",
        "SELECT Orchestra FROM orchestra EXCEPT SELECT Orchestra FROM performance", False, "another table's column"),
    _h2(_TV, "SELECT count(DISTINCT series_name) ,  count(DISTINCT content) FROM TV_Channel;",
        "SELECT count(series_name), count(content) FROM TV_Channel", False, "missing DISTINCT"),
    _h2(_EUROPE_POP, 'SELECT Name FROM country WHERE continent  =  "Europe" AND Population  =  "80000"',
        "SELECT Name FROM country WHERE continent = 'Europe' AND Population = 80000", True, "80000 for '80000'"),
    _h2(_EUROPE_POP, 'SELECT Name FROM country WHERE continent  =  "Europe" AND Population  =  "80000"',
        "SELECT Name FROM country WHERE continent = 'Europe' AND Population > 80000", False, "> for ="),
    _h2(_PARAGRAPHS, "SELECT document_id FROM Paragraphs GROUP BY document_id HAVING count(*)  >=  2",
        "SELECT document_id FROM Paragraphs GROUP BY document_id HAVING count(*) > 1", True, "integers"),
    _h2(_TREATED, "SELECT count(DISTINCT dog_id) FROM Treatments", "SELECT count(dog_id) FROM Treatments", False,
        "a dog with two treatments counts twice"),
]
